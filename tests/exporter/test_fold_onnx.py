"""``edgeattn fold`` / ``fold_onnx``: the folding rules on ONNX files from other exporters.

Two sources: a MobileNetV3-style graph written with onnx.helper as tf2onnx / Paddle2ONNX write
it (opset 13, no torch; ``thirdparty_onnx``), and an SE network exported by the legacy
TorchScript exporter at opset 13 with ``nn.Linear`` FCs (Gemm), ``flatten`` / ``view`` /
``expand_as`` glue and a HardSigmoid gate. Values are compared on ONNX Runtime here, independently
of the check ``fold_onnx`` runs itself.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from thirdparty_onnx import FOLDED, OPSET, REFUSED, SIZE, mobilenetv3_like
from typer.testing import CliRunner

from edgeattn.artifact import ArtifactInfo
from edgeattn.cli import app
from edgeattn.errors import InputError
from edgeattn.exporter.fold import fold_onnx


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture()
def mnv3(tmp_path: Path) -> Path:
    path = tmp_path / "mnv3.onnx"
    onnx.save(mobilenetv3_like(), path)
    return path


def test_mobilenetv3_like_folds_its_mobilenetv3_gates_and_keeps_the_values(mnv3: Path, tmp_path: Path) -> None:
    out = tmp_path / "folded.onnx"
    result = fold_onnx(mnv3, out)
    report = result.fold
    assert report.counts == {"SqueezeExcite": 3}
    assert {b.name for b in report.blocks} == FOLDED  # named after the scaling Mul's path
    assert {b.variant for b in report.blocks} == {"relu_hardsigmoid"}
    # se2's HardSigmoid(0.2, 0.5) is the MobileNetV3 gate of FC2 * 1.2 + 6 * (0.5 - 0.5)
    assert [b.notes for b in report.blocks if b.name == "se2"] == [
        ["HardSigmoid(alpha=0.2, beta=0.5) folded as HardSigmoid(1/6, 1/2) of FC2 scaled by 1.2"]]
    folded = onnx.load(out)
    calls = [n for n in folded.graph.node if n.domain == "edgeattn"]
    assert sorted(n.name for n in calls) == sorted(FOLDED)
    # The model keeps its opset (no version conversion); the opset-13 ReduceMean (axes attribute)
    # of se1 and the Gemm/Flatten/Div gate of se3 are gone from the main graph.
    assert next(o.version for o in folded.opset_import if o.domain == "") == OPSET
    main_ops = [n.op_type for n in folded.graph.node]
    assert "ReduceMean" not in main_ops and "HardSigmoid" in main_ops  # the stem's hard-swish stays
    assert main_ops.count("Div") == 1  # se4's mean (refused); se3's relu6(z + 3) / 6 is folded
    assert main_ops.count("Gemm") == 1  # only the classifier head
    onnx.checker.check_model(folded, full_check=True)
    x = np.random.default_rng(3).standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)
    np.testing.assert_allclose(_run(out, x), _run(mnv3, x), rtol=1e-5, atol=1e-5)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    assert result.checked_shapes == {"x": [2, 3, SIZE, SIZE]}  # the dynamic batch checked with 2 samples


def test_every_gate_that_is_not_folded_has_a_reason(mnv3: Path, tmp_path: Path) -> None:
    report = fold_onnx(mnv3, tmp_path / "folded.onnx").fold
    reasons = {r.node: r.reasons["SqueezeExciteRule"] for r in report.refusals}
    for node, why in REFUSED.items():
        assert why in reasons[node], reasons
    # The hard-swish written as x * HardSigmoid(x) is refused as such, not taken for a gate.
    assert "SiLU" in reasons["stem/hswish"]
    assert set(reasons) == {*REFUSED, "stem/hswish"}


def test_the_output_records_the_fold_and_its_source_without_a_pytorch_provenance(mnv3: Path, tmp_path: Path) -> None:
    out = tmp_path / "folded.onnx"
    fold_onnx(mnv3, out)
    info = ArtifactInfo.read(out)
    prov = info.provenance
    assert prov["folded_from"]["tool"] == "edgeattn fold"
    assert prov["folded_from"]["sha256"] == hashlib.sha256(mnv3.read_bytes()).hexdigest()
    assert prov["folded_from"]["path"] == str(mnv3.resolve())
    assert prov["source"] is None and prov["exporter"] is None and prov["checkpoint"] is None
    assert prov["preprocessing"] is None and prov["opset"] == OPSET and prov["fold"] == "functions"
    assert {b["name"] for b in info.blocks} == FOLDED
    assert info.input is not None and info.input.size == (3, SIZE, SIZE) and info.dynamic_batch
    sidecar = json.loads((tmp_path / "folded.onnx.json").read_text())
    assert sidecar["provenance"] == prov and sidecar["fold"]["counts"] == {"SqueezeExcite": 3}


def test_validate_compares_the_folded_file_with_its_source(mnv3: Path, tmp_path: Path) -> None:
    out = tmp_path / "folded.onnx"
    fold_onnx(mnv3, out)
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(out), "--reference", str(mnv3), "-n", "4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is True
    # Without a reference it names the source it was folded from, not a PyTorch model it never had.
    result = runner.invoke(app, ["validate", str(out), "-n", "2"])
    assert result.exit_code == 1
    assert "--reference" in result.output and "mnv3.onnx" in result.output


def test_fold_none_writes_the_graph_unchanged_and_reports_what_would_fold(mnv3: Path, tmp_path: Path) -> None:
    out = tmp_path / "same.onnx"
    report = fold_onnx(mnv3, out, mode="none").fold
    assert report.counts == {"SqueezeExcite": 3} and report.mode == "none"
    written = onnx.load(out)
    assert [n.op_type for n in written.graph.node] == [n.op_type for n in onnx.load(mnv3).graph.node]
    assert ArtifactInfo.read(out).blocks == []


def test_inline_mode_folds_to_standard_ops(mnv3: Path, tmp_path: Path) -> None:
    out = tmp_path / "inline.onnx"
    fold_onnx(mnv3, out, mode="inline")
    written = onnx.load(out)
    assert not [n for n in written.graph.node if n.domain == "edgeattn"] and not written.functions
    x = np.random.default_rng(4).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    np.testing.assert_allclose(_run(out, x), _run(mnv3, x), rtol=1e-5, atol=1e-5)


def test_refuses_what_it_cannot_fold_in_one_line_and_writes_nothing(mnv3: Path, tmp_path: Path) -> None:
    old = mobilenetv3_like()
    old.opset_import[0].version = 10
    old_path = tmp_path / "opset10.onnx"
    onnx.save(old, old_path)
    with pytest.raises(InputError, match="opset 10; expected opset 11 or newer") as info:
        fold_onnx(old_path, tmp_path / "a.onnx")
    assert "--convert-opset" in (info.value.hint or "")
    with pytest.raises(InputError, match="--output: received .*which is the input"):
        fold_onnx(mnv3, mnv3)
    with pytest.raises(InputError, match="expected a path ending in .onnx"):
        fold_onnx(mnv3, tmp_path / "a.txt")
    with pytest.raises(InputError, match="not a file"):
        fold_onnx(tmp_path / "missing.onnx", tmp_path / "a.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnv3.onnx", "opset10.onnx"]


def test_a_hard_sigmoid_that_does_not_increase_is_refused_with_its_reason(tmp_path: Path) -> None:
    model = mobilenetv3_like()
    gate = next(n for n in model.graph.node if n.name == "se2/gate")
    next(a for a in gate.attribute if a.name == "alpha").f = -0.2
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    report = fold_onnx(path, tmp_path / "f.onnx").fold
    assert {b.name for b in report.blocks} == FOLDED - {"se2"}
    reasons = {r.node: r.reasons["SqueezeExciteRule"] for r in report.refusals}
    assert "HardSigmoid(alpha=-0.2, beta=0.5) does not increase" in reasons["se2/Mul"]


def test_refuses_a_quantized_model(tmp_path: Path) -> None:
    model = mobilenetv3_like()
    model.graph.node.insert(0, onnx.helper.make_node("QuantizeLinear", ["x", "qs"], ["xq"], name="q"))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(0.1, np.float32), "qs"))
    path = tmp_path / "q.onnx"
    onnx.save(model, path)
    with pytest.raises(InputError, match="is int8; expected an FP32 model"):
        fold_onnx(path, tmp_path / "a.onnx")


def test_cli_fold_prints_blocks_and_refusals_and_json(mnv3: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["fold", str(mnv3), "-o", str(tmp_path / "f.onnx")])
    assert result.exit_code == 0, result.output
    assert "folded 3 SqueezeExcite (functions)" in result.stdout
    assert "se3 [relu_hardsigmoid]" in result.stdout
    assert "not folded: se4/Mul: squeeze is not" in result.stdout
    assert "not folded: stem/hswish" not in result.stdout and "1 x * sigmoid(x) product(s)" in result.stdout
    result = runner.invoke(app, ["fold", str(mnv3), "-o", str(tmp_path / "g.onnx"), "--fold", "inline", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fold"]["mode"] == "inline" and data["fold"]["counts"] == {"SqueezeExcite": 3}
    assert data["source_sha256"] == hashlib.sha256(mnv3.read_bytes()).hexdigest()
    result = runner.invoke(app, ["fold", str(mnv3), "-o", str(tmp_path / "h.onnx"), "--fold", "folded"])
    assert result.exit_code == 2  # an unknown choice is a usage error
    result = runner.invoke(app, ["inspect", str(tmp_path / "f.onnx")])
    assert result.exit_code == 0, result.output
    assert f"folded from  {mnv3.resolve()}" in result.stdout and "exported from" not in result.stdout


# ------------------------------------------------------------------------ legacy torch exporter
def _legacy_se_net(path: Path, opset: int = 13) -> None:
    """SE blocks as hand-written PyTorch code exports them with the legacy exporter (opset 13 by default)."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class LinearSE(nn.Module):  # the SENet reference code: mean, Linear FCs, view + expand_as
        def __init__(self, c: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(c, c // 4), nn.Linear(c // 4, c)

        def forward(self, x):  # type: ignore[no-untyped-def]
            b, c = x.shape[0], x.shape[1]
            y = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3)))))).view(b, c, 1, 1)
            return x * y.expand_as(x)

    class FlattenHardSE(nn.Module):  # AdaptiveAvgPool + flatten, ReLU6, hardsigmoid, y[:, :, None, None]
        def __init__(self, c: int) -> None:
            super().__init__()
            self.pool, self.fc1, self.fc2 = nn.AdaptiveAvgPool2d(1), nn.Linear(c, c // 4), nn.Linear(c // 4, c)

        def forward(self, x):  # type: ignore[no-untyped-def]
            y = torch.flatten(self.pool(x), 1)
            y = nn.functional.hardsigmoid(self.fc2(nn.functional.relu6(self.fc1(y))))
            return x * y[:, :, None, None]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.se1 = nn.Conv2d(3, 16, 3, padding=1), LinearSE(16)
            self.c2, self.se2 = nn.Conv2d(16, 16, 3, padding=1), FlattenHardSE(16)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):  # type: ignore[no-untyped-def]
            x = self.se1(torch.relu(self.c1(x)))
            return self.fc(self.se2(torch.relu(self.c2(x))).mean((2, 3)))

    torch.manual_seed(0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice: that exporter is the point
        torch.onnx.export(Net().eval(), (torch.randn(1, 3, 32, 32),), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def test_legacy_exporter_opset13_linear_se_folds(tmp_path: Path) -> None:
    src = tmp_path / "legacy13.onnx"
    _legacy_se_net(src)
    ops = [n.op_type for n in onnx.load(src).graph.node]
    assert {"Gemm", "Flatten", "Expand", "HardSigmoid"} <= set(ops) and "Conv" in ops  # the forms under test
    out = tmp_path / "folded.onnx"
    report = fold_onnx(src, out).fold
    assert report.counts == {"SqueezeExcite": 2}
    # The legacy exporter's node names (/se1/fc1/Gemm) give the module paths.
    assert {(b.name, b.variant) for b in report.blocks} == {("se1", "relu_sigmoid"), ("se2", "relu6_hardsigmoid")}
    assert not report.refusals
    folded = onnx.load(out)
    assert "Gemm" in [n.op_type for n in folded.graph.node]  # the classifier
    assert sum(n.op_type == "Gemm" for n in folded.graph.node) == 1
    x = np.random.default_rng(5).standard_normal((4, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(_run(out, x), _run(src, x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------ quantize after fold
def _int8(src: Path, out: Path, attention: str | None = None) -> dict:
    from edgeattn.exporter.quantize import quantize

    calibration = np.random.default_rng(7).standard_normal((16, 3, SIZE, SIZE)).astype(np.float32)
    result = quantize(src, out, "int8", calibration, num_calibration=None, use_cache=False, progress=False,
                      attention=attention)
    return {"gates": result.settings["gate_paths"], "unprotected": result.settings["unprotected_gates"],
            "warnings": result.warnings, "nodes": {n.name: n for n in result.nodes}}


def test_quantize_keeps_the_folded_third_party_gates_in_fp32(mnv3: Path, tmp_path: Path) -> None:
    folded = tmp_path / "folded.onnx"
    fold_onnx(mnv3, folded)
    got = _int8(folded, tmp_path / "folded_int8.onnx", attention="fp32")
    assert {g["scale_node"] for g in got["gates"] if g["folded"]} == FOLDED
    assert not [g for g in got["gates"] if not g["folded"]]
    # se4 (its squeeze a ReduceSum / (H*W)) is neither: the warning names it.
    assert got["unprotected"] == ["se4/Mul"]
    assert any("se4/Mul" in w and "--exclude-nodes" in w for w in got["warnings"])
    info = ArtifactInfo.read(tmp_path / "folded_int8.onnx")
    assert info.precision == "int8" and info.provenance["folded_from"]["tool"] == "edgeattn fold"
    # The default (attention="gate") inlines the folded blocks: each keeps its HardSigmoid and
    # scaling Mul in FP32, and se4 is still named as unprotected.
    default = _int8(folded, tmp_path / "folded_gate.onnx")
    kept = [n for n in default["nodes"].values() if "attention policy 'gate'" in n.reason]
    assert {n.op_type for n in kept} == {"HardSigmoid", "Mul"}
    assert {n.name.split("/", 1)[0] for n in kept} == {g["scale_node"] for g in got["gates"] if g["folded"]}
    assert default["unprotected"] == ["se4/Mul"]


def test_quantize_on_the_unfolded_third_party_model(mnv3: Path, tmp_path: Path) -> None:
    got = _int8(mnv3, tmp_path / "plain_int8.onnx")
    assert not [g for g in got["gates"] if g["folded"]]
    assert {g["scale_node"] for g in got["gates"]} == {"se1/Mul", "se2/Mul", "se3/Mul"}
    assert got["unprotected"] == ["se4/Mul"]
    assert any("se4/Mul" in w for w in got["warnings"])


def test_convert_opset_folds_an_opset10_export_and_the_check_covers_the_conversion(tmp_path: Path) -> None:
    src = tmp_path / "legacy10.onnx"
    _legacy_se_net(src, opset=10)
    with pytest.raises(InputError, match="is opset 10"):
        fold_onnx(src, tmp_path / "a.onnx")
    out = tmp_path / "folded13.onnx"
    result = fold_onnx(src, out, convert_opset=13)
    assert result.fold.counts == {"SqueezeExcite": 2} and result.opset == 13
    folded = onnx.load(out)
    assert next(o.version for o in folded.opset_import if o.domain == "") == 13
    prov = ArtifactInfo.read(out).provenance
    assert prov["opset"] == 13 and prov["folded_from"]["opset"] == 10
    x = np.random.default_rng(6).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(_run(out, x), _run(src, x), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="--convert-opset: received 9"):
        fold_onnx(src, tmp_path / "b.onnx", convert_opset=9)


def test_fp16_of_a_folded_opset13_model_needs_the_conversion(mnv3: Path, tmp_path: Path) -> None:
    from edgeattn.errors import QuantizationError
    from edgeattn.exporter.quantize import quantize

    fold_onnx(mnv3, tmp_path / "f13.onnx")
    with pytest.raises(QuantizationError, match="opset 13; FP16 conversion needs >= 15") as info:
        quantize(tmp_path / "f13.onnx", tmp_path / "f13_fp16.onnx", "fp16")
    assert "--convert-opset" in (info.value.hint or "")
    fold_onnx(mnv3, tmp_path / "f17.onnx", convert_opset=17)
    result = quantize(tmp_path / "f17.onnx", tmp_path / "f17_fp16.onnx", "fp16")
    blocks = {n.name: n.reason for n in result.nodes if n.op_type == "edgeattn::SqueezeExcite"}
    assert set(blocks) == FOLDED and all("gate computed in FP32" in r for r in blocks.values()), blocks
    x = np.random.default_rng(8).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "f17_fp16.onnx", x), _run(mnv3, x), rtol=2e-2, atol=2e-2)


def test_torchvision_mobilenet_v3_through_the_legacy_exporter_folds_every_se_block(tmp_path: Path) -> None:
    """A real MobileNetV3 (torchvision: 1x1-conv FCs, hardsigmoid gates) exported by torch.onnx's
    TorchScript exporter at opset 13, not by edgeattn: every SE module folds."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from edgeattn.models.attention_scan import count_by_kind, find_attention_blocks

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small().eval()
    src = tmp_path / "tv_mnv3_small.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 96, 96),), str(src), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}})
    blocks = find_attention_blocks(model)
    report = fold_onnx(src, tmp_path / "folded.onnx").fold
    assert report.counts == count_by_kind(blocks) == {"SqueezeExcite": 9}
    assert {b.name for b in report.blocks} == {b.path for b in blocks}  # the legacy node names give the paths
    # Every refusal is a hard-swish activation (x * hardsigmoid(x)), none an SE block.
    assert report.refusals and all("SiLU" in r.reasons["SqueezeExciteRule"] for r in report.refusals)
    x = np.random.default_rng(9).standard_normal((2, 3, 96, 96)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "folded.onnx", x), _run(src, x), rtol=1e-5, atol=1e-5)


def test_an_unfolded_edgeattn_export_keeps_its_pytorch_provenance(tmp_path: Path) -> None:
    """``export --fold none`` then ``fold``: the record still names the PyTorch model, which validate
    then takes as its reference (here with random weights, so only the reference is checked)."""
    pytest.importorskip("torch")
    from edgeattn.exporter import export

    raw = tmp_path / "raw.onnx"
    export("se_resnet_tiny", raw, fold="none", opset=17, input_shape=(1, 3, 32, 32))
    out = tmp_path / "folded.onnx"
    report = fold_onnx(raw, out).fold
    assert report.counts and set(report.counts) == {"SqueezeExcite"}
    prov = ArtifactInfo.read(out).provenance
    assert prov["source"] == "se_resnet_tiny" and prov["fold"] == "functions"
    assert prov["folded_from"]["sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest()
    result = CliRunner().invoke(app, ["validate", str(out), "-n", "2", "--json"])
    assert json.loads(result.stdout)["reference"]["model"] == "se_resnet_tiny", result.output
    result = CliRunner().invoke(app, ["validate", str(out), "--reference", str(raw), "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
