"""Build option validation, size parsing, rebuild command, precision detection and planning."""

from __future__ import annotations

import shlex

import pytest

from edgeattn.errors import InputError
from edgeattn.tensorrt.features import Features
from edgeattn.tensorrt.builder import plan_precision
from edgeattn.tensorrt.onnx_info import read_onnx
from edgeattn.tensorrt.options import BuildOptions, parse_size, rebuild_command


@pytest.mark.parametrize("text,value", [("2G", 2 << 30), ("512MiB", 512 << 20), ("1.5g", 3 << 29), (4096, 4096), ("100", 100)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["lots", "-1G", 0, "2X"])
def test_parse_size_rejects(bad):
    with pytest.raises(InputError):
        parse_size(bad)


@pytest.mark.parametrize(
    "kw,match",
    [(dict(precision="int4"), "precision"), (dict(hardware_compatibility="turing"), "hardware compatibility"),
     (dict(builder_optimization_level=6), "0..5"), (dict(dla_core=-1), "DLA"),
     (dict(exclude_lean_runtime=True), "--version-compatible")],
)
def test_validate_rejects(kw, match):
    with pytest.raises(InputError, match=match):
        BuildOptions(**kw).validate()


def test_hardware_compatibility_normalised():
    assert BuildOptions(hardware_compatibility="Ampere-Plus").validate().hardware_compatibility == "ampere_plus"


def test_rebuild_command_round_trips_options():
    opts = BuildOptions(min_batch=1, max_batch=16, workspace="2G", builder_optimization_level=4, dla_core=0,
                        gpu_fallback=False, hardware_compatibility="ampere_plus", version_compatible=True,
                        timing_cache="my cache.bin", max_shapes={"input": (16, 3, 224, 224)}).validate()
    args = shlex.split(rebuild_command("dir/m.onnx", "m.engine", opts))
    assert args[:5] == ["edgeattn", "build", "dir/m.onnx", "-o", "m.engine"]
    joined = " ".join(args)
    for piece in ("--max-batch 16", "--workspace 2147483648", "--opt-level 4", "--dla-core 0", "--no-gpu-fallback",
                  "--hardware-compatibility ampere_plus", "--version-compatible", "--max-shapes input:16x3x224x224"):
        assert piece in joined
    assert "my cache.bin" in args  # quoted as one argument


def _features(**kw):
    base = dict(version="x", explicit_batch_flag=True, implicit_batch_api=False, strongly_typed=True, fp16_flag=True,
                int8_flag=True, entropy_calibrator=True, version_compatible_flag=True,
                exclude_lean_runtime_flag=True, optimization_level=True, hardware_compatibility=("NONE",),
                memory_pool_limit=True, max_workspace_size=False, engine_host_code_allowed=True)
    base.update(kw)
    return Features(**base)


def test_plan_precision_rejects_requested_precision_the_graph_lacks():
    with pytest.raises(InputError, match="--precision fp16 requested, but m.onnx is a fp32 graph") as info:
        plan_precision(_features(), "fp32", BuildOptions(precision="fp16"), onnx_path="m.onnx")
    assert "edgeattn quantize m.onnx -o m.fp16.onnx --precision fp16" in info.value.hint
    with pytest.raises(InputError) as info:
        plan_precision(_features(), "fp32", BuildOptions(precision="int8"), onnx_path="m.onnx")
    assert "--precision int8 --target tensorrt" in info.value.hint


def test_plan_precision_classic_on_converted_graph_rejected():
    with pytest.raises(InputError, match="already fp16"):
        plan_precision(_features(), "fp16", BuildOptions(classic_fp16=True))


def test_plan_precision_no_strongly_typed_on_10x_uses_flags():
    plan = plan_precision(_features(), "fp16", BuildOptions(strongly_typed=False))
    assert (plan.path, plan.fp16_flag, plan.strongly_typed) == ("weak_typed", True, False)
    # 11.x: no flags, the network is strongly typed whatever the option says
    plan = plan_precision(_features(fp16_flag=False, int8_flag=False), "int8", BuildOptions(strongly_typed=False))
    assert (plan.path, plan.int8_flag) == ("strongly_typed", False)


def test_precision_detection(make_onnx):
    assert read_onnx(make_onnx("a.onnx")).precision == "fp32"
    assert read_onnx(make_onnx("b.onnx", dtype="float16")).precision == "fp16"
    info = read_onnx(make_onnx("c.onnx", qdq=True))
    assert (info.precision, info.precision_source) == ("int8", "graph")
    info = read_onnx(make_onnx("d.onnx", precision_meta="fp16"))
    assert (info.precision, info.precision_source) == ("fp16", "metadata")
    assert info.blocks[0]["name"] == "layer1.0.se.channel"
    assert info.inputs[0].shape == ("batch", 3, 8, 8)


def test_read_onnx_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_onnx(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match="not a readable ONNX"):
        read_onnx(bad)


def test_read_onnx_records_local_function_call_sites(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    body = [helper.make_node("Sigmoid", ["x"], ["s"], name="Gate_0_Sigmoid"), helper.make_node("Mul", ["x", "s"], ["y"], name="Gate_1_Mul")]
    fn = helper.make_function("edgeattn", "Gate", ["x"], ["y"], body, [helper.make_opsetid("", 18)])
    nodes = [helper.make_node("Gate", ["input"], ["a"], name="layer1.0.se", domain="edgeattn"),
             helper.make_node("Gate", ["a"], ["out"], name="layer2.0.se", domain="edgeattn")]
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3])  # noqa: E731
    model = helper.make_model(helper.make_graph(nodes, "g", [vi("input")], [vi("out")]), functions=[fn],
                              opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("edgeattn", 1)])
    path = tmp_path / "f.onnx"
    onnx.save(model, str(path))
    info = read_onnx(path)
    assert info.functions == {"Gate": {"body_nodes": ["Gate_0_Sigmoid", "Gate_1_Mul"], "call_sites": ["layer1.0.se", "layer2.0.se"]}}
    assert info.custom_domains == ("edgeattn",) and info.opset == 18
