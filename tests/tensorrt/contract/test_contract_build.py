"""Contract tests: every build path against every TensorRT generation's exact API surface.

The stand-ins verify API usage (symbols that exist in the generation, documented call order),
not TensorRT's behaviour.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeattn.errors import BackendUnavailableError, CalibrationError, ExportError, InputError
from edgeattn.tensorrt import build, read_sidecar

GENERATIONS = ("8.5", "8.6", "10.3", "10.16", "11.0", "11.1")
CUDA = ("12", "13")
HAS_FLAGS = ("8.5", "8.6", "10.3", "10.16")  # BuilderFlag.FP16/INT8 and calibrators exist
STRONGLY_TYPED = ("10.3", "10.16", "11.0", "11.1")


def _flags_set(world):
    return [c[1][0].name for c in world.calls if c[0] == "IBuilderConfig.set_flag"]


@pytest.mark.parametrize("cuda", CUDA)
@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_build_fp32_sequence(make_world, tiny_onnx, tmp_path, gen, cuda):
    world = make_world(gen, cuda)
    out = tmp_path / "m.engine"
    result = build(tiny_onnx, out, max_batch=8)
    names = world.names()
    # documented order: network -> parser -> parse -> config -> profile added -> build
    assert names.index("Builder.create_network") < names.index("OnnxParser.__init__")
    assert names.index("OnnxParser.parse_from_file") < names.index("Builder.build_serialized_network")
    assert names.index("IOptimizationProfile.set_shape") < names.index("IBuilderConfig.add_optimization_profile")
    assert names.index("IBuilderConfig.add_optimization_profile") < names.index("Builder.build_serialized_network")
    set_shape = next(c for c in world.calls if c[0] == "IOptimizationProfile.set_shape")
    assert set_shape[1] == ("input", (1, 3, 8, 8), (1, 3, 8, 8), (8, 3, 8, 8))
    flags = next(c for c in world.calls if c[0] == "Builder.create_network")[1][0]
    import tensorrt as trt

    ncf = trt.NetworkDefinitionCreationFlag
    if gen in ("8.5", "8.6"):
        assert flags == 1 << int(ncf.EXPLICIT_BATCH)  # implicit batch is their default
    else:
        assert flags == 1 << int(ncf.STRONGLY_TYPED)  # 1 << 1 on 10.x, 1 << 0 on 11.x
    assert flags == {"10.3": 2, "10.16": 2, "11.0": 1, "11.1": 1}.get(gen, flags)
    assert _flags_set(world) == []  # fp32: no precision flags on any generation
    assert result.precision == "fp32"
    assert out.is_file() and json.loads(out.read_bytes())["magic"] == "edgeattn-standin-plan"  # no header
    side = read_sidecar(out)
    assert side["tensorrt"]["version"] == trt.__version__
    assert side["gpu"]["compute_capability"] == "8.7"
    assert side["profiles"][0]["max"] == [8, 3, 8, 8]
    assert {d["name"]: d["mode"] for d in side["io"]} == {"input": "input", "logits": "output"}
    assert side["precision_plan"]["path"] == ("weak_typed" if gen in ("8.5", "8.6") else "strongly_typed")
    if gen == "8.5":  # no detailed verbosity? it exists; opt level does not
        assert "IBuilderConfig.builder_optimization_level=" not in world.names()


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_build_fp16_onnx(make_world, make_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    onnx_path = make_onnx("fp16.onnx", dtype="float16")
    result = build(onnx_path, tmp_path / "m.engine")
    assert result.precision == "fp16"
    if gen in STRONGLY_TYPED:
        assert _flags_set(world) == []
        assert result.precision_path == "strongly_typed"
    else:
        assert _flags_set(world) == ["FP16"]
        assert result.precision_path == "weak_typed"


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_build_int8_qdq_onnx(make_world, make_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    onnx_path = make_onnx("qdq.onnx", qdq=True)
    result = build(onnx_path, tmp_path / "m.engine")
    assert result.precision == "int8"
    # explicit quantization: INT8 flag only where networks are weakly typed (8.x)
    assert _flags_set(world) == ([] if gen in STRONGLY_TYPED else ["INT8"])
    assert "IBuilderConfig.int8_calibrator=" not in world.names()


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_build_classic_fp16(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    if gen not in HAS_FLAGS:
        with pytest.raises(InputError, match="no FP16 builder flag.*edgeattn quantize"):
            build(tiny_onnx, tmp_path / "m.engine", classic_fp16=True)
        assert "Builder.build_serialized_network" not in world.names()
        return
    result = build(tiny_onnx, tmp_path / "m.engine", classic_fp16=True)
    assert _flags_set(world) == ["FP16"]
    assert result.precision_path == "classic_fp16"
    flags = next(c for c in world.calls if c[0] == "Builder.create_network")[1][0]
    import tensorrt as trt

    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        assert not flags >> int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) & 1


@pytest.mark.parametrize("cuda", CUDA)
@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_build_classic_int8_calibration(make_world, tiny_onnx, tmp_path, gen, cuda):
    world = make_world(gen, cuda)
    data = np.random.default_rng(0).standard_normal((10, 3, 8, 8)).astype(np.float32)
    cache = tmp_path / "calib.cache"
    if gen not in HAS_FLAGS:
        with pytest.raises(InputError, match="INT8"):
            build(tiny_onnx, tmp_path / "m.engine", classic_int8_calibration=data, calibration_cache=str(cache))
        return
    result = build(
        tiny_onnx, tmp_path / "m.engine", classic_int8_calibration=data, calibration_cache=str(cache),
        calibration_batch_size=4,
    )
    assert result.precision == "int8" and result.precision_path == "classic_int8"
    assert _flags_set(world) == ["INT8"]
    names = world.names()
    assert names.index("IBuilderConfig.int8_calibrator=") < names.index("Builder.build_serialized_network")
    # 10 samples at batch 4: two full batches copied to device memory, then the cache written
    assert world.count("cudart.cudaMemcpy") == 2
    assert cache.read_bytes() == b"standin-calibration-cache"
    cal_profile = [c for c in world.calls if c[0] == "IOptimizationProfile.set_shape"][-1]
    assert cal_profile[1][1] == (4, 3, 8, 8) == cal_profile[1][3]
    # second build reads the cache instead of calibrating again
    world.calls.clear()
    build(tiny_onnx, tmp_path / "m2.engine", classic_int8_calibration=data, calibration_cache=str(cache),
          calibration_batch_size=4)
    assert world.count("cudart.cudaMemcpy") == 0


def test_contract_calibration_too_few_samples(make_world, tiny_onnx, tmp_path):
    make_world("10.3", "12")
    data = np.zeros((2, 3, 8, 8), np.float32)
    with pytest.raises(CalibrationError, match="fewer than one batch"):
        build(tiny_onnx, tmp_path / "m.engine", classic_int8_calibration=data, calibration_batch_size=8)


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_build_options_mapping(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    kwargs = dict(workspace="1G", builder_optimization_level=5, min_batch=2, opt_batch=4, max_batch=16)
    result = build(tiny_onnx, tmp_path / "m.engine", **kwargs)
    import tensorrt as trt

    pools = [c for c in world.calls if c[0] == "IBuilderConfig.set_memory_pool_limit"]
    assert pools and pools[0][1] == (trt.MemoryPoolType.WORKSPACE, 1 << 30)
    opt_level = [c[1][0] for c in world.calls if c[0] == "IBuilderConfig.builder_optimization_level="]
    if gen == "8.5":
        assert opt_level == [] and any("optimization level" in w for w in result.warnings)
    else:
        assert opt_level == [5]
    verbosity = [c[1][0] for c in world.calls if c[0] == "IBuilderConfig.profiling_verbosity="]
    assert verbosity == [trt.ProfilingVerbosity.DETAILED]
    shape = next(c for c in world.calls if c[0] == "IOptimizationProfile.set_shape")[1]
    assert shape[1:] == ((2, 3, 8, 8), (4, 3, 8, 8), (16, 3, 8, 8))


@pytest.mark.parametrize("gen", GENERATIONS)
@pytest.mark.parametrize("level", ["ampere_plus", "same_compute_capability"])
def test_contract_hardware_compatibility(make_world, tiny_onnx, tmp_path, gen, level):
    world = make_world(gen, "13")
    import tensorrt as trt

    available = hasattr(trt, "HardwareCompatibilityLevel") and hasattr(
        trt.HardwareCompatibilityLevel, level.upper()
    )
    if not available:
        with pytest.raises(InputError, match="not available in TensorRT"):
            build(tiny_onnx, tmp_path / "m.engine", hardware_compatibility=level)
        return
    build(tiny_onnx, tmp_path / "m.engine", hardware_compatibility=level)
    sets = [c[1][0] for c in world.calls if c[0] == "IBuilderConfig.hardware_compatibility_level="]
    assert sets == [getattr(trt.HardwareCompatibilityLevel, level.upper())]
    assert read_sidecar(tmp_path / "m.engine")["compatibility"]["hardware"] == level


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_version_compatible(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    if gen == "8.5":
        with pytest.raises(InputError, match="8.6 or newer"):
            build(tiny_onnx, tmp_path / "m.engine", version_compatible=True)
        return
    build(tiny_onnx, tmp_path / "m.engine", version_compatible=True, exclude_lean_runtime=True)
    assert _flags_set(world) == ["VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME"]


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_timing_cache_read_set_build_write(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    cache = tmp_path / "timing.cache"
    r1 = build(tiny_onnx, tmp_path / "a.engine", timing_cache=str(cache))
    assert r1.timing_cache_status == "created"
    assert cache.read_bytes() == b"standin-timing-cache:1"
    names = world.names()
    order = ["IBuilderConfig.create_timing_cache", "IBuilderConfig.set_timing_cache",
             "Builder.build_serialized_network", "IBuilderConfig.get_timing_cache", "ITimingCache.serialize"]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    world.calls.clear()
    r2 = build(tiny_onnx, tmp_path / "b.engine", timing_cache=str(cache))
    assert r2.timing_cache_status == "reused"
    created = next(c for c in world.calls if c[0] == "IBuilderConfig.create_timing_cache")
    assert created[1][0] == b"standin-timing-cache:1"
    assert cache.read_bytes() == b"standin-timing-cache:2"  # updated and written back


def test_contract_timing_cache_mismatch_starts_fresh(make_world, tiny_onnx, tmp_path):
    world = make_world("10.16", "13", timing_cache_mismatch=True)
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"standin-timing-cache:7")
    result = build(tiny_onnx, tmp_path / "a.engine", timing_cache=str(cache))
    assert result.timing_cache_status == "replaced"
    assert any("does not match" in w for w in result.warnings)
    assert cache.read_bytes() == b"standin-timing-cache:1"
    assert world.count("IBuilderConfig.set_timing_cache") == 2


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_dla_with_gpu_fallback(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13", num_dla_cores=2)
    result = build(tiny_onnx, tmp_path / "m.engine", dla_core=1)
    import tensorrt as trt

    assert [c[1][0] for c in world.calls if c[0] == "IBuilderConfig.default_device_type="] == [trt.DeviceType.DLA]
    assert [c[1][0] for c in world.calls if c[0] == "IBuilderConfig.DLA_core="] == [1]
    assert "GPU_FALLBACK" in _flags_set(world)
    assert any("DLA runs only FP16/INT8" in w for w in result.warnings)


def test_contract_dla_absent(make_world, tiny_onnx, tmp_path):
    make_world("10.16", "13", num_dla_cores=0)
    with pytest.raises(InputError, match="no DLA"):
        build(tiny_onnx, tmp_path / "m.engine", dla_core=0)


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_parser_error_message(make_world, tiny_onnx, tmp_path, gen):
    err = {"desc": "No importer registered for op: SqueezeExcite", "node": 3, "node_name": "layer3.2.se",
           "node_operator": "SqueezeExcite", "code": 8}
    world = make_world(gen, "13", parser_errors=[err])
    out = tmp_path / "m.engine"
    with pytest.raises(ExportError) as info:
        build(tiny_onnx, out)
    msg = str(info.value)
    assert "node 3" in msg and "No importer registered for op: SqueezeExcite" in msg
    import tensorrt as trt

    if hasattr(trt.ParserError, "node_name"):
        assert "'layer3.2.se' (SqueezeExcite)" in msg
    assert "Builder.build_serialized_network" not in world.names()
    assert not out.exists()


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_builder_failure_reports_logger_errors(make_world, tiny_onnx, tmp_path, gen):
    make_world(gen, "13", build_error="Error Code 10: Internal Error (Could not find any implementation for node layer1.0.se.channel/Mul.)")
    out = tmp_path / "m.engine"
    with pytest.raises(ExportError, match="Could not find any implementation for node layer1.0.se.channel/Mul"):
        build(tiny_onnx, out)
    assert not out.exists() and not (tmp_path / "m.engine.json").exists()


@pytest.mark.parametrize("cuda", CUDA)
def test_contract_build_no_gpu(make_world, tiny_onnx, tmp_path, cuda):
    make_world("10.16", cuda, device_count=0)
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        build(tiny_onnx, tmp_path / "m.engine")


def test_contract_build_without_tensorrt(make_world, tiny_onnx, tmp_path):
    make_world(None, "13")
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        build(tiny_onnx, tmp_path / "m.engine")


def test_default_max_batch_is_the_exports_and_the_engine_reads_back_as_an_artifact(make_world, tiny_onnx, tmp_path):
    import onnx

    from edgeattn.artifact import ArtifactInfo

    make_world("10.16", "13")
    proto = onnx.load(str(tiny_onnx))
    entry = proto.metadata_props.add()
    entry.key = "edgeattn.provenance"
    entry.value = json.dumps({"source": "tiny", "input": {"names": ["input"], "shape": [1, 3, 8, 8], "dynamic_batch": True,
                                                          "max_batch": 4},
                              "preprocessing": {"input_size": [3, 8, 8], "crop_pct": 1.0}})
    onnx.save(proto, str(tiny_onnx))
    out = tmp_path / "m.engine"
    result = build(tiny_onnx, out)  # no --max-batch: the export's 4, not 32
    assert result.profiles[0].max == (4, 3, 8, 8)
    side = read_sidecar(out)
    assert side["format"] == "edgeattn.tensorrt-engine/2" and side["precision"] == "fp32"
    info = ArtifactInfo.read(out)
    assert (info.kind, info.precision, info.max_batch, info.input_size) == ("engine", "fp32", 4, (3, 8, 8))
    assert info.provenance["source"] == "tiny" and info.blocks[0]["name"] == "layer1.0.se.channel"
    assert build(tiny_onnx, tmp_path / "n.engine", max_batch=16).profiles[0].max == (16, 3, 8, 8)


def test_the_onnx_reference_set_travels_with_the_engine(make_world, tiny_onnx, tmp_path):
    from edgeattn.data.reference_set import reference_set_path

    make_world("10.16", "13")
    recorded = reference_set_path(tiny_onnx)
    recorded.write_bytes(b"recorded inputs and outputs")  # copied as bytes, not interpreted here
    out = tmp_path / "m.engine"
    build(tiny_onnx, out, max_batch=8)
    assert reference_set_path(out).read_bytes() == b"recorded inputs and outputs"
    recorded.unlink()
    build(tiny_onnx, tmp_path / "plain.engine", max_batch=8)
    assert not reference_set_path(tmp_path / "plain.engine").exists()
