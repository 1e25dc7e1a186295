"""build prepares the graph for the TensorRT generation it finds (pure ONNX, checked on ONNX Runtime).

Facts (docs/tensorrt.md): F9 onnx-tensorrt 8.5/8.6 have no local functions; F10 9.0+ key them by
name and suffix inlined layer names with one global counter; F11 8.5/8.6 reduce over all axes when
opset-18 ReduceMean/ReduceMax give axes as an input.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")  # exports its models; the runtime-only run (scripts/test-py38.sh) has none
nn = torch.nn

from edgeattn.errors import InputError  # noqa: E402
from edgeattn.layers import CBAM  # noqa: E402
from edgeattn.tensorrt import build, read_sidecar  # noqa: E402
from edgeattn.tensorrt.prepare import emit_prepared, parse_target, prepare_file  # noqa: E402
from edgeattn.tensorrt.runner import TensorRTRunner  # noqa: E402

ort = pytest.importorskip("onnxruntime")


class _CbamNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.cbam = CBAM(16, reduction=4)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cbam(torch.relu(self.stem(x))).mean((2, 3)))


@pytest.fixture(scope="module")
def cbam_onnx(tmp_path_factory):
    """A CBAM net as `edgeattn export` writes it by default: opset 18, blocks as local functions."""
    from edgeattn.exporter import export

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prep") / "cbam.onnx"
    export(_CbamNet().eval(), path, input_shape=(1, 3, 16, 16), opset=18, fold="functions")
    return path


def _ops(model):
    return {(n.domain or "", n.op_type) for n in model.graph.node}


def _ort(model_or_path, x):
    data = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_export_default_has_what_tensorrt_8_cannot_parse(cbam_onnx):
    model = onnx.load(str(cbam_onnx))
    assert ("edgeattn", "SpatialAttention") in _ops(model) or ("edgeattn", "CBAM") in _ops(model)
    body_reduce = [n for f in model.functions for n in f.node if n.op_type in ("ReduceMean", "ReduceMax")]
    assert body_reduce and all(len(n.input) == 2 for n in body_reduce)  # opset-18 axes as input


@pytest.mark.parametrize("target", ["8.5", "8.6"])
def test_prepared_for_tensorrt_8_is_inlined_opset17_and_equivalent_on_ort(cbam_onnx, tmp_path, target):
    out = tmp_path / f"cbam.trt{target}.onnx"
    prep = emit_prepared(cbam_onnx, out, parse_target(target))
    model = onnx.load(str(out))
    assert not model.functions and all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    assert prep.opset == (18, 17) and model.ir_version == 8
    reduces = [n for n in model.graph.node if n.op_type in ("ReduceMean", "ReduceMax")]
    assert reduces and all(len(n.input) == 1 and any(a.name == "axes" for a in n.attribute) for n in reduces)
    # the spatial attention's ReduceMean and ReduceMax are named after their block's module path
    in_blocks = [n for n in reduces if n.name.startswith(tuple(b + "/" for b in prep.inlined))]
    assert {n.op_type for n in in_blocks} == {"ReduceMean", "ReduceMax"}
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(_ort(str(out), x), _ort(str(cbam_onnx), x), rtol=1e-5, atol=1e-5)


def test_prepared_for_tensorrt_10_keeps_opset_18(cbam_onnx, tmp_path):
    prep = prepare_file(cbam_onnx, (10, 3))
    assert prep.opset == (18, 18) and not prep.model.functions
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(_ort(prep.model, x), _ort(str(cbam_onnx), x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gen", ["8.5", "8.6", "10.3", "11.1"])
def test_build_parses_the_default_export_on_every_generation(make_world, cbam_onnx, tmp_path, gen):
    make_world(gen, "13")
    engine = tmp_path / "cbam.engine"
    build(cbam_onnx, engine, max_batch=2)
    side = read_sidecar(engine)
    assert side["prepared_graph"]["opset"]["after"] == (17 if gen.startswith("8.") else 18)
    assert side["functions"] == {}
    with TensorRTRunner(engine, profile_layers=True) as runner:
        x = np.ones((1, 3, 16, 16), np.float32)
        out = runner.run(x)
        # the stand-in kernel: mean(input) + j, offset when a reduction was misread (F11)
        np.testing.assert_allclose(out[next(iter(out))], 1.0 + np.arange(4)[None], rtol=1e-6)
        assert any(name.startswith("cbam") and "/" in name for name in runner.layer_times())


def test_unprepared_opset18_reduce_is_misread_by_the_8x_standin(make_world, cbam_onnx, tmp_path, monkeypatch):
    """Without the preparation the corrected stand-ins fail the way TensorRT 8.x does (F9, F11)."""
    from edgeattn.graph import inline_functions
    from edgeattn.tensorrt import prepare

    make_world("8.6", "13")
    with pytest.raises(Exception, match="No importer registered for op"):
        monkeypatch.setattr(prepare, "inline_functions", lambda model, keep=(): (model, {}))
        build(cbam_onnx, tmp_path / "a.engine", max_batch=2)
    # inlined but left at opset 18: parses, and computes the wrong thing
    monkeypatch.setattr(prepare, "inline_functions", inline_functions)
    monkeypatch.setattr(prepare, "OPSET_FOR_TENSORRT_8", 99)
    engine = tmp_path / "b.engine"
    build(cbam_onnx, engine, max_batch=2)
    with TensorRTRunner(engine) as runner:
        out = runner.run(np.ones((1, 3, 16, 16), np.float32))
    assert not np.allclose(out[next(iter(out))], 1.0 + np.arange(4)[None])


def test_op_with_a_registered_plugin_stays_a_node(make_world, cbam_onnx, tmp_path):
    model = onnx.load(str(cbam_onnx))
    op = next(n.op_type for n in model.graph.node if n.domain == "edgeattn")
    make_world("10.16", "13", plugins=[op])
    engine = tmp_path / "p.engine"
    build(cbam_onnx, engine, max_batch=2)
    side = read_sidecar(engine)
    assert side["prepared_graph"]["kept_for_plugins"] == [op]
    assert op in side["functions"]


def test_emit_onnx_cli_without_tensorrt(cbam_onnx, tmp_path):
    from typer.testing import CliRunner

    from edgeattn.cli import app

    out = tmp_path / "for86.onnx"
    result = CliRunner().invoke(app, ["build", str(cbam_onnx), "--emit-onnx", str(out), "--for-tensorrt", "8.6"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "opset 18 -> 17" in result.output
    assert onnx.load(str(out)).opset_import[0].version == 17
    same = CliRunner().invoke(app, ["build", str(cbam_onnx), "--emit-onnx", str(cbam_onnx), "--for-tensorrt", "8.6"])
    assert same.exit_code == 1 and "--emit-onnx: received" in same.output and "which is the input" in same.output
    bad = CliRunner().invoke(app, ["build", str(cbam_onnx), "--emit-onnx", str(out), "--for-tensorrt", "eight"])
    assert bad.exit_code == 1 and "expected MAJOR.MINOR" in bad.output


def test_parse_target():
    assert parse_target("8.6.1.6") == (8, 6) and parse_target("10.16") == (10, 16)
    with pytest.raises(InputError):
        parse_target("")
