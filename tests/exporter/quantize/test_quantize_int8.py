"""INT8 Q/DQ: activation types per target, zero-points TensorRT accepts, the attention policy."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from _qgraphs import run
from onnx import numpy_helper

from edgeattn.exporter.quantize import quantize


def _zero_points(model: onnx.ModelProto) -> list[np.ndarray]:
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]


def _precision(result) -> dict[str, str]:
    return {n.name: n.precision for n in result.nodes}


def test_attention_fp32_keeps_folded_blocks_in_fp32(folded_onnx, calib_npy, cache_dir, tmp_path):
    out = tmp_path / "q.onnx"
    result = quantize(folded_onnx, out, "int8", calib_npy, attention="fp32", cache_dir=cache_dir, progress=False)
    model = onnx.load(out)
    calls = [n for n in model.graph.node if n.domain == "edgeattn"]
    assert [n.name for n in calls] == ["layer1.se", "layer1.cbam.spatial"]
    # bodies untouched: no Q/DQ inside the gate path
    assert all(n.op_type not in ("QuantizeLinear", "DequantizeLinear") for f in model.functions for n in f.node)
    # block weights stay float, backbone weights are int8
    inits = {t.name: t.data_type for t in model.graph.initializer}
    assert inits["sw1"] == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.INT8 and t.name.startswith("c1w") for t in model.graph.initializer)
    p = _precision(result)
    assert p["stem.conv"] == p["layer1.conv"] == p["fc"] == "int8"
    assert p["layer1.se"] == p["layer1.cbam.spatial"] == "fp32"
    # ort-cpu: U8 activations
    assert all(z.dtype == np.uint8 for z in _zero_points(model))
    # logits are not squeezed through 256 levels
    assert model.graph.output[0].name in {o for n in model.graph.node if n.op_type == "Gemm" for o in n.output}
    x = np.load(calib_npy)[:8]
    ref, got = run(folded_onnx, x), run(out, x)
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["edgeattn.precision"] == "int8"
    record = json.loads(meta["edgeattn.quantization"])
    assert record["target"] == "ort-cpu" and record["policy"]["attention"] == "fp32"
    assert record["calibration"]["num_samples"] == 48 and record["calibration"]["synthetic"] is False
    assert json.loads(meta["edgeattn.blocks"])[0]["name"] == "layer1.se"
    sidecar = json.loads((tmp_path / "q.onnx.json").read_text())
    assert sidecar["precision"] == "int8" and sidecar["quantization"]["counts"]["int8"] >= 3


def _gate_and_scale(model: onnx.ModelProto, block: str) -> list[str]:
    """The Sigmoid and the scaling Mul of an inlined block (named ``<block>/<Kind>_<i>_<Op>``)."""
    return [n.name for n in model.graph.node if n.name.startswith(f"{block}/") and n.op_type in ("Sigmoid", "Mul")]


def test_default_policy_keeps_only_gate_and_scale_in_fp32(folded_onnx, calib_npy, cache_dir, tmp_path):
    """INT8 default ``attention="gate"``: blocks inlined, pooling and MLP / 7x7 conv INT8, the
    Sigmoid and the scaling Mul FP32 (docs/precision.md: the cheaper island, same accuracy)."""
    out = tmp_path / "q.onnx"
    result = quantize(folded_onnx, out, "int8", calib_npy, cache_dir=cache_dir, progress=False)
    model = onnx.load(out)
    assert not [n for n in model.graph.node if n.domain == "edgeattn"] and not model.functions
    p = _precision(result)
    assert p["layer1.se/Conv_2"] == p["layer1.cbam.spatial/Conv_4"] == p["stem.conv"] == "int8"
    for block in ("layer1.se", "layer1.cbam.spatial"):
        kept = _gate_and_scale(model, block)
        assert len(kept) == 2, kept
        assert all(p[name] == "fp32" for name in kept)
        assert all(f"of {block} kept in FP32 (attention policy 'gate')" in n.reason for n in result.nodes if n.name in kept)
    # the Sigmoid reads a float tensor that came from a DequantizeLinear: the conv before it is INT8
    made_by = {o: n for n in model.graph.node for o in n.output}
    sigmoid = next(n for n in model.graph.node if n.name.startswith("layer1.se/") and n.op_type == "Sigmoid")
    assert made_by[sigmoid.input[0]].op_type == "DequantizeLinear"
    record = json.loads({q.key: q.value for q in model.metadata_props}["edgeattn.quantization"])
    assert record["policy"]["attention"] == "gate" and record["settings"]["folded_blocks_kept"] is False
    x = np.load(calib_npy)[:8]
    ref, got = run(folded_onnx, x), run(out, x)
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()


def test_attention_modes_are_checked(folded_onnx, calib_npy, cache_dir, tmp_path):
    from edgeattn.errors import InputError

    with pytest.raises(InputError, match="received 'half'"):
        quantize(folded_onnx, tmp_path / "a.onnx", "int8", calib_npy, attention="half", cache_dir=cache_dir, progress=False)
    with pytest.raises(InputError, match="received both"):
        quantize(folded_onnx, tmp_path / "b.onnx", "int8", calib_npy, attention="gate", quantize_attention=True,
                 cache_dir=cache_dir, progress=False)
    with pytest.raises(InputError, match="for FP16"):
        quantize(folded_onnx, tmp_path / "c.onnx", "fp16", attention="gate", progress=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("a.", "b.", "c."))]


def test_tensorrt_target_is_symmetric_s8_with_float_bias(folded_onnx, calib_npy, cache_dir, tmp_path):
    out = tmp_path / "trt.onnx"
    quantize(folded_onnx, out, "int8", calib_npy, target="tensorrt", cache_dir=cache_dir, progress=False)
    model = onnx.load(out)
    zps = _zero_points(model)
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    inits = {t.name: t for t in model.graph.initializer}
    dq_types = {inits[n.input[0]].data_type for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    assert dq_types == {onnx.TensorProto.INT8}  # no INT32 bias DequantizeLinear for TensorRT
    for node in model.graph.node:  # weights per-channel (axis 0), scales positive
        if node.op_type == "DequantizeLinear" and node.input[0] in inits and len(inits[node.input[0]].dims) == 4:
            assert len(inits[node.input[1]].dims) == 1
    x = np.load(calib_npy)[:4]
    assert np.isfinite(run(out, x)).all()


def test_quantize_attention_inlines_and_quantizes_the_gate(folded_onnx, calib_npy, cache_dir, tmp_path):
    out = tmp_path / "qa.onnx"
    result = quantize(folded_onnx, out, "int8", calib_npy, quantize_attention=True, cache_dir=cache_dir, progress=False)
    model = onnx.load(out)
    assert not [n for n in model.graph.node if n.domain == "edgeattn"] and not model.functions
    p = _precision(result)
    assert p["layer1.se/Conv_2"] == p["layer1.cbam.spatial/Conv_4"] == "int8"
    assert {n.block for n in result.nodes if n.name.startswith("layer1.se/")} == {"layer1.se"}
    record = json.loads({q.key: q.value for q in model.metadata_props}["edgeattn.quantization"])
    assert record["settings"]["folded_blocks_kept"] is False
    assert np.isfinite(run(out, np.load(calib_npy)[:4])).all()


def test_plain_graph_gate_paths_are_excluded_by_name(plain_onnx, calib_npy, cache_dir, tmp_path):
    out = tmp_path / "plain_q.onnx"
    result = quantize(plain_onnx, out, "int8", calib_npy, attention="fp32", cache_dir=cache_dir, progress=False)
    p = _precision(result)
    gate = [n for n in result.nodes if n.name.startswith(("se/", "sp/"))]
    assert gate and all(n.precision == "fp32" and "attention-aware" in n.reason for n in gate)
    assert p["stem.conv"] == p["layer1.conv"] == "int8"
    model = onnx.load(out)
    made_by = {o: n for n in model.graph.node for o in n.output}
    sig = next(n for n in model.graph.node if n.name == "se/Sigmoid_5")
    assert made_by[sig.input[0]].op_type == "Conv"  # no DequantizeLinear in the gate path
    lifted = quantize(plain_onnx, tmp_path / "plain_qa.onnx", "int8", calib_npy, quantize_attention=True,
                      cache_dir=cache_dir, progress=False)
    assert _precision(lifted)["se/Conv_2"] == "int8"
    # The default, attention="gate", on a plain graph: the gate paths found by pattern keep only
    # their sigmoid (and the layout ops behind it) and the scaling Mul in FP32.
    gated = _precision(quantize(plain_onnx, tmp_path / "plain_gate.onnx", "int8", calib_npy, cache_dir=cache_dir,
                                progress=False))
    assert gated["se/Conv_2"] == "int8" and gated["se/Sigmoid_5"] == "fp32"
    scale = [n for n in onnx.load(plain_onnx).graph.node if n.op_type == "Mul" and n.name.startswith("se/")]
    assert scale and all(gated[n.name] == "fp32" for n in scale)


def test_user_exclusions_and_report(folded_onnx, calib_npy, cache_dir, tmp_path):
    out = tmp_path / "ex.onnx"
    result = quantize(folded_onnx, out, "int8", calib_npy, exclude_nodes=["^fc$"], exclude_op_types=["Add"],
                      cache_dir=cache_dir, progress=False)
    p = {n.name: n for n in result.nodes}
    assert p["fc"].precision == "fp32" and "--exclude-nodes" in p["fc"].reason
    assert p["layer1.add"].precision == "fp32" and "--exclude-op-types" in p["layer1.add"].reason
    data = result.to_dict()
    assert data["counts"]["fp32"] == sum(1 for n in data["nodes"] if n["precision"] == "fp32")


def test_refuses_already_quantized_and_same_path(folded_onnx, calib_npy, cache_dir, tmp_path):
    from edgeattn.errors import InputError

    out = tmp_path / "q.onnx"
    quantize(folded_onnx, out, "int8", calib_npy, cache_dir=cache_dir, progress=False)
    with pytest.raises(InputError, match="already int8"):
        quantize(out, tmp_path / "qq.onnx", "int8", calib_npy, cache_dir=cache_dir, progress=False)
    with pytest.raises(InputError, match="which is the input"):
        quantize(folded_onnx, folded_onnx, "fp16")


def test_reduce_range_default_per_target(folded_onnx, calib_npy, cache_dir, tmp_path):
    # ort-cpu: 7-bit weights (no int16 saturation on x86 without VNNI); tensorrt: full 8-bit.
    def weight_extremes(path):
        model = onnx.load(path)
        return max(
            int(np.abs(numpy_helper.to_array(t)).max())
            for t in model.graph.initializer
            if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4
        )

    cpu = quantize(folded_onnx, tmp_path / "cpu.onnx", "int8", calib_npy, cache_dir=cache_dir, progress=False)
    trt = quantize(folded_onnx, tmp_path / "trt.onnx", "int8", calib_npy, target="tensorrt", cache_dir=cache_dir,
                   progress=False)
    assert cpu.settings["reduce_range"] is True and weight_extremes(tmp_path / "cpu.onnx") <= 64
    assert trt.settings["reduce_range"] is False and weight_extremes(tmp_path / "trt.onnx") == 127


# --- ORT's symbolic shape inference dumps its model into the current directory when it gives up ---
def _fake_pre_process(write_dump: bool):
    def fake(source, target, **_kw):
        if write_dump:
            # What onnxruntime/tools/symbolic_shape_infer.py does on incomplete inference.
            onnx.save_model(onnx.load(source), "sym_shape_infer_temp.onnx", save_as_external_data=True,
                            size_threshold=0)
        raise Exception("Incomplete symbolic shape inference")

    return fake


def test_ort_shape_inference_dump_is_not_left_in_the_working_directory(tmp_path, monkeypatch):
    import onnxruntime.quantization.shape_inference as ort_shape_inference

    from edgeattn.exporter.quantize.int8 import prepare_for_int8
    from edgeattn.exporter.quantize.policy import PrecisionPolicy
    from tests.tiny_onnx import tiny_classifier

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "mine.txt").write_text("kept")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(ort_shape_inference, "quant_pre_process", _fake_pre_process(True))
    prepared = prepare_for_int8(tiny_classifier(), PrecisionPolicy(), work)
    assert prepared.graph.node  # the fallback (ONNX shape inference) still prepared the model
    assert sorted(p.name for p in cwd.iterdir()) == ["mine.txt"]


def test_a_dump_that_was_already_there_is_left_alone(tmp_path, monkeypatch):
    import onnxruntime.quantization.shape_inference as ort_shape_inference

    from edgeattn.exporter.quantize.int8 import prepare_for_int8
    from edgeattn.exporter.quantize.policy import PrecisionPolicy
    from tests.tiny_onnx import tiny_classifier

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sym_shape_infer_temp.onnx").write_bytes(b"someone else's file")
    monkeypatch.setattr(ort_shape_inference, "quant_pre_process", _fake_pre_process(False))
    work = tmp_path / "work"
    work.mkdir()
    prepare_for_int8(tiny_classifier(), PrecisionPolicy(), work)
    assert (tmp_path / "sym_shape_infer_temp.onnx").read_bytes() == b"someone else's file"
