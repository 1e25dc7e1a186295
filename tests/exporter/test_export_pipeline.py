"""export(): both exporters, the three fold modes, metadata, sidecar, checks, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from edgeattn._io import sha256_file
from edgeattn.errors import ExportError, InputError
from edgeattn.exporter import export
from edgeattn.layers import CBAM, SqueezeExcite
from edgeattn.models.attention_scan import find_attention_blocks


class Tiny(nn.Module):
    """Every variant the rules must see from real exporters: Linear SE with a hard-sigmoid gate,
    a CBAM with [max, mean] order and BatchNorm after the spatial conv, a Linear-MLP CBAM."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.se = SqueezeExcite(16, reduction=4, use_conv=False, gate="hard_sigmoid")
        self.cbam = CBAM(16, reduction=4, pool_order="max_mean", spatial_batch_norm=True)
        self.cbam_linear = CBAM(16, reduction=4, use_conv=False, spatial_kernel_size=3)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cbam_linear(self.cbam(self.se(torch.relu(self.stem(x)))))
        return self.head(x.mean((2, 3)))


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    model = Tiny().eval()
    # non-trivial BatchNorm statistics, so folding it into the conv is really tested
    bn = model.cbam.spatial.bn
    bn.running_mean.fill_(0.3)
    bn.running_var.fill_(2.0)
    bn.weight.data.fill_(1.5)
    bn.bias.data.fill_(-0.2)
    return model


def _ort(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("opset", [18, 17])
def test_both_exporters_fold_every_block_with_module_names(tiny, tmp_path, opset) -> None:
    out = tmp_path / "tiny.onnx"
    result = export(tiny, out, input_shape=(1, 3, 32, 32), opset=opset, max_batch=4)
    model = onnx.load(str(out))
    assert model.opset_import[0].version == opset or {o.domain: o.version for o in model.opset_import}[""] == opset
    assert result.exporter == ("dynamo" if opset >= 18 else "legacy")
    expected = {(b.path, b.kind) for b in find_attention_blocks(tiny)}
    folded = {(n.name, n.op_type) for n in model.graph.node if n.domain == "edgeattn"}
    assert folded == expected  # names are the PyTorch module paths
    assert result.fold.complete and not result.fold.missing
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)  # dynamic batch
    with torch.no_grad():
        ref = tiny(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort(out, x), ref, rtol=1e-3, atol=1e-4)


def test_metadata_and_sidecar(tiny, tmp_path) -> None:
    out = tmp_path / "m.onnx"
    result = export(tiny, out, input_shape=(1, 3, 32, 32), max_batch=4)
    props = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props if p.key.startswith("edgeattn.")}
    blocks = props["edgeattn.blocks"]
    assert {b["name"] for b in blocks} == {b.path for b in find_attention_blocks(tiny)}
    tensors = {o for n in onnx.load(str(out)).graph.node for o in n.output} | {"input"}
    assert all(b["input"] in tensors and b["output"] in tensors for b in blocks)
    prov = props["edgeattn.provenance"]
    assert prov["input"]["shape"] == [1, 3, 32, 32] and prov["input"]["max_batch"] == 4
    assert prov["opset"] == 18 and prov["exporter"] == "dynamo"
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["blocks"] == blocks and sidecar["provenance"] == prov
    assert result.sidecar.name == "m.onnx.json"
    assert result.sha256 == sha256_file(out) and result.size_bytes == out.stat().st_size


def test_fold_none_keeps_raw_graph_but_lists_blocks(tiny, tmp_path) -> None:
    out = tmp_path / "raw.onnx"
    result = export(tiny, out, input_shape=(1, 3, 32, 32), fold="none")
    model = onnx.load(str(out))
    assert not any(n.domain == "edgeattn" for n in model.graph.node) and not model.functions
    assert len(result.blocks) == len(find_attention_blocks(tiny))


def test_fold_inline_has_no_functions(tiny, tmp_path) -> None:
    out = tmp_path / "inline.onnx"
    export(tiny, out, input_shape=(1, 3, 32, 32), fold="inline")
    model = onnx.load(str(out))
    assert not model.functions and not any(n.domain == "edgeattn" for n in model.graph.node)
    assert any(n.op_type == "GlobalMaxPool" for n in model.graph.node)


def test_static_batch(tiny, tmp_path) -> None:
    out = tmp_path / "static.onnx"
    export(tiny, out, input_shape=(2, 3, 32, 32), dynamic_batch=False)
    dim = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 2


def test_unfolded_block_is_a_warning(tmp_path) -> None:
    class Odd(nn.Module):
        """An SE-named module computing something that is not SE: it must be reported missing."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            return x * torch.sigmoid(self.conv(x)).mean(1, keepdim=True)

    Odd.__name__ = "SqueezeExcite"
    model = nn.Sequential(nn.Conv2d(3, 3, 1), Odd()).eval()
    result = export(model, tmp_path / "odd.onnx", input_shape=(1, 3, 16, 16))
    assert result.fold.missing == [{"name": "1", "op_type": "SqueezeExcite"}]
    assert any("'1'" in w and "not folded" in w for w in result.warnings)


def test_bad_options_are_input_errors(tiny, tmp_path) -> None:
    with pytest.raises(InputError, match="fold"):
        export(tiny, tmp_path / "a.onnx", input_shape=(1, 3, 32, 32), fold="fused")
    with pytest.raises(InputError, match="opset 12"):
        export(tiny, tmp_path / "a.onnx", input_shape=(1, 3, 32, 32), opset=12)
    with pytest.raises(InputError, match=".onnx"):
        export(tiny, tmp_path / "a.pt", input_shape=(1, 3, 32, 32))
    assert not list(tmp_path.iterdir())
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        export(tiny, tmp_path / "dir.onnx", input_shape=(1, 3, 32, 32))


def test_export_failure_leaves_no_file(tmp_path) -> None:
    class Bad(nn.Module):
        def forward(self, x):
            return torch.from_numpy(x.numpy() * 2)  # not traceable by either exporter

    with pytest.raises(ExportError, match="inputs, expected 1"):
        export(Bad().eval(), tmp_path / "bad.onnx", input_shape=(1, 3, 8, 8), opset=17)
    assert not list(tmp_path.iterdir())


def test_optimize_for_ort_cpu_keeps_values_and_is_recorded(tiny, tmp_path) -> None:
    from edgeattn.artifact import ArtifactInfo

    portable, blocked = tmp_path / "any.onnx", tmp_path / "ort.onnx"
    export(tiny, portable, input_shape=(1, 3, 32, 32))
    dynamic = export(tiny, blocked, input_shape=(1, 3, 32, 32), optimize_for="ort-cpu")
    assert any("static input shape" in w for w in dynamic.warnings)  # ORT cannot fold the scales then
    body_ops = {n.op_type for f in onnx.load(str(blocked)).functions for n in f.node}
    assert "Resize" in body_ops and "Resize" not in {n.op_type for f in onnx.load(str(portable)).functions for n in f.node}
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)  # dynamic batch
    with torch.inference_mode():
        ref = tiny(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort(blocked, x), ref, rtol=1e-4, atol=1e-5)
    assert ArtifactInfo.read(blocked).provenance["optimize_for"] == "ort-cpu"
    static = export(tiny, tmp_path / "static.onnx", input_shape=(1, 3, 32, 32), dynamic_batch=False, optimize_for="ort-cpu")
    assert not any("static input shape" in w for w in static.warnings)
    assert ArtifactInfo.read(portable).provenance["optimize_for"] == "any"
    with pytest.raises(InputError, match="optimize for: received 'gpu'"):
        export(tiny, tmp_path / "bad.onnx", optimize_for="gpu")
    assert not (tmp_path / "bad.onnx").exists()


def test_a_loaded_model_carries_its_source_and_recipe_into_the_export(tmp_path) -> None:
    import dataclasses

    from edgeattn.artifact import ArtifactInfo
    from edgeattn.models import load_model

    loaded = load_model("se_resnet_tiny")
    loaded.input = dataclasses.replace(loaded.input, mean=(0.1, 0.2, 0.3), crop_pct=1.0)
    export(loaded, tmp_path / "loaded.onnx", input_shape=(1, 3, 32, 32), check=False)
    info = ArtifactInfo.read(tmp_path / "loaded.onnx")
    assert info.provenance["source"] == "se_resnet_tiny"
    pre = info.preprocessing
    assert (pre.mean, pre.crop_pct, pre.input_size) == ((0.1, 0.2, 0.3), 1.0, (3, 32, 32))
    # The bare module carries nothing: no source, and its own (zoo) recipe.
    export(loaded.module, tmp_path / "bare.onnx", input_shape=(1, 3, 32, 32), check=False)
    bare = ArtifactInfo.read(tmp_path / "bare.onnx")
    assert bare.provenance["source"] is None and bare.preprocessing.crop_pct == 0.875


@pytest.mark.parametrize(
    ("perturb", "passes"),
    [
        (lambda y: y + 5e-5, True),  # inside atol (1e-4 x max(1, |ref|))
        (lambda y: y + 0.5, False),  # far outside
        (lambda y: np.where(np.arange(y.size).reshape(y.shape) == 0, np.nan, y), False),  # one NaN
    ],
)
def test_parity_check_passes_within_tolerance_and_refuses_beyond_it_or_nan(tiny, tmp_path, monkeypatch, perturb, passes) -> None:
    # The ONNX Runtime side of export's check is replaced by PyTorch's own output, perturbed:
    # the verdict and the reported difference come from edgeattn.compare.compare_output.
    from edgeattn.exporter import simplify

    real_check = simplify.check

    def perturbed(proto, feeds):
        got = real_check(proto, feeds)
        return {name: perturb(value.astype(np.float32)).astype(np.float32) for name, value in got.items()}

    monkeypatch.setattr(simplify, "check", perturbed)
    out = tmp_path / "tiny.onnx"
    if passes:
        result = export(tiny, out, input_shape=(1, 3, 16, 16), max_batch=2)
        assert result.max_abs_diff is not None and 4e-5 < result.max_abs_diff < 1e-4
    else:
        with pytest.raises(ExportError, match="differs from PyTorch"):
            export(tiny, out, input_shape=(1, 3, 16, 16), max_batch=2)
        assert not out.exists()
