"""The Triton model repository writer: configs from artifact metadata, parsed with Triton's schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from _artifacts import make_onnx, write_engine_with_sidecar

from edgeattn.errors import InputError
from edgeattn.serving import RepositoryOptions, write_repository
from edgeattn.serving.model_config import parse_config, schema


def _config(repo: Path, name: str):
    return parse_config((repo / name / "config.pbtxt").read_text(), where=name)


def _kind(value: int) -> str:
    return schema().ModelInstanceGroup.Kind.Name(value)


def test_onnx_model_gets_onnxruntime_platform_batch_axis_and_batcher(tmp_path, tiny_onnx):
    repo = tmp_path / "repo"
    result = write_repository(repo, [tiny_onnx], RepositoryOptions(preferred_batch=(8, 4), queue_delay_us=250, instances=2))
    assert [(m.name, m.version, m.role) for m in result.models] == [("tiny", 1, "model")]
    config = _config(repo, "tiny")
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 16  # the provenance's max_batch
    # The batch axis is implicit: dims are the remaining axes.
    assert [(t.name, list(t.dims)) for t in config.input] == [("input", [1, 8, 8])]
    assert [(t.name, list(t.dims)) for t in config.output] == [("logits", [10])]
    assert schema().DataType.Name(config.input[0].data_type) == "TYPE_FP32"
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
    assert [(g.count, _kind(g.kind)) for g in config.instance_group] == [(2, "KIND_CPU")]
    warm = config.model_warmup[0]
    assert warm.batch_size == 1 and list(warm.inputs["input"].dims) == [1, 8, 8] and warm.inputs["input"].random_data
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator
    assert (repo / "tiny" / "1" / "model.onnx").read_bytes() == tiny_onnx.read_bytes()


def test_fixed_batch_artifact_has_no_batching_and_full_dims(tmp_path):
    artifact = make_onnx(tmp_path / "fixed.onnx", batch=1)
    write_repository(tmp_path / "repo", [artifact])
    config = _config(tmp_path / "repo", "fixed")
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [1, 1, 8, 8]
    assert not config.HasField("dynamic_batching")
    with pytest.raises(InputError, match="fixed batch of 1"):
        write_repository(tmp_path / "repo2", [artifact], RepositoryOptions(max_batch=4))


@pytest.mark.parametrize(("precision", "mode"), [(None, "FP32"), ("fp16", "FP16"), ("int8", "INT8")])
def test_ort_tensorrt_accelerator_follows_the_artifact_precision(tmp_path, precision, mode):
    artifact = make_onnx(tmp_path / "m.onnx", precision=precision)
    write_repository(tmp_path / "repo", [artifact], RepositoryOptions(kind="gpu", ort_tensorrt=True))
    config = _config(tmp_path / "repo", "m")
    (accel,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accel.name == "tensorrt" and accel.parameters["precision_mode"] == mode
    assert _kind(config.instance_group[0].kind) == "KIND_GPU"


def test_ort_tensorrt_on_cpu_instances_is_refused(tmp_path, tiny_onnx):
    with pytest.raises(InputError, match="--ort-tensorrt needs --kind gpu"):
        write_repository(tmp_path / "repo", [tiny_onnx], RepositoryOptions(ort_tensorrt=True))
    assert not (tmp_path / "repo").exists()


def test_engine_becomes_tensorrt_plan_on_gpu_from_its_sidecar(tmp_path):
    engine = write_engine_with_sidecar(tmp_path, max_batch=8)
    write_repository(tmp_path / "repo", [engine], RepositoryOptions(name="trt"))
    config = _config(tmp_path / "repo", "trt")
    assert config.platform == "tensorrt_plan"
    assert config.max_batch_size == 8  # the profile's max batch
    assert [list(t.dims) for t in config.output] == [[10]]
    assert _kind(config.instance_group[0].kind) == "KIND_GPU"
    # Triton's tensorrt backend loads model.plan; the sidecar travels beside it.
    assert sorted(p.name for p in (tmp_path / "repo" / "trt" / "1").iterdir()) == ["model.plan", "model.plan.json"]
    with pytest.raises(InputError, match="runs on a GPU only"):
        write_repository(tmp_path / "repo2", [engine], RepositoryOptions(kind="cpu"))


def test_engine_without_sidecar_is_one_error(tmp_path):
    engine = write_engine_with_sidecar(tmp_path, sidecar=False)
    with pytest.raises(InputError, match=r"no sidecar \(tiny.engine.json\)"):
        write_repository(tmp_path / "repo", [engine])
    assert not (tmp_path / "repo").exists()


def test_artifact_without_metadata_is_refused(tmp_path):
    artifact = make_onnx(tmp_path / "plain.onnx", provenance=False)
    with pytest.raises(InputError, match="no edgeattn metadata"):
        write_repository(tmp_path / "repo", [artifact])


def test_python_backend_writes_our_runner_model(tmp_path, tiny_onnx):
    write_repository(tmp_path / "repo", [tiny_onnx], RepositoryOptions(backend="python", threads=2))
    config = _config(tmp_path / "repo", "tiny")
    assert config.backend == "python" and not config.platform
    assert config.parameters["artifact"].string_value == "model.onnx"
    assert config.parameters["threads"].string_value == "2"
    model_py = (tmp_path / "repo" / "tiny" / "1" / "model.py").read_text()
    assert "class TritonPythonModel" in model_py and "edgeattn.load" in model_py


def test_preprocessing_ensemble_chains_bytes_to_the_model(tmp_path, tiny_onnx):
    result = write_repository(tmp_path / "repo", [tiny_onnx], RepositoryOptions(name="digits", with_preprocessing=True))
    assert sorted((m.name, m.role) for m in result.models) == [
        ("digits", "model"), ("digits_ensemble", "ensemble"), ("digits_preprocess", "preprocess")
    ]
    pre = _config(tmp_path / "repo", "digits_preprocess")
    assert schema().DataType.Name(pre.input[0].data_type) == "TYPE_STRING"
    assert (pre.output[0].name, list(pre.output[0].dims)) == ("input", [1, 8, 8])
    assert '"mean": [0.5]' in pre.parameters["preprocessing"].string_value
    ensemble = _config(tmp_path / "repo", "digits_ensemble")
    assert ensemble.platform == "ensemble"
    steps = [(s.model_name, dict(s.input_map), dict(s.output_map)) for s in ensemble.ensemble_scheduling.step]
    assert steps[0][0] == "digits_preprocess" and steps[1][0] == "digits"
    assert steps[0][2]["input"] == steps[1][1]["input"]  # the preprocessed tensor feeds the model
    assert [t.name for t in ensemble.output] == ["logits"]
    assert (tmp_path / "repo" / "digits_ensemble" / "1").is_dir()  # Triton needs the version folder


def test_existing_model_gets_a_new_version_and_others_are_untouched(tmp_path, tiny_onnx):
    repo = tmp_path / "repo"
    write_repository(repo, [tiny_onnx])
    other = make_onnx(tmp_path / "other.onnx")
    write_repository(repo, [other])
    before = (repo / "other" / "config.pbtxt").read_bytes()
    result = write_repository(repo, [tiny_onnx], RepositoryOptions(instances=3))
    assert result.models[0].version == 2
    assert sorted(p.name for p in (repo / "tiny").iterdir()) == ["1", "2", "config.pbtxt"]
    assert _config(repo, "tiny").instance_group[0].count == 3
    assert (repo / "other" / "config.pbtxt").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]
    with pytest.raises(InputError, match="already exists"):
        write_repository(repo, [tiny_onnx], RepositoryOptions(version=2))


def test_new_version_with_other_tensors_is_refused(tmp_path, tiny_onnx):
    repo = tmp_path / "repo"
    write_repository(repo, [tiny_onnx])
    (tmp_path / "x").mkdir()
    renamed = make_onnx(tmp_path / "x" / "tiny.onnx", output_name="scores")
    with pytest.raises(InputError, match="serves other tensors"):
        write_repository(repo, [renamed])
    assert sorted(p.name for p in (repo / "tiny").iterdir()) == ["1", "config.pbtxt"]


def test_failure_on_a_later_artifact_writes_nothing(tmp_path, tiny_onnx):
    bad = make_onnx(tmp_path / "bad.onnx", provenance=False)
    with pytest.raises(InputError):
        write_repository(tmp_path / "repo", [tiny_onnx, bad])
    assert not (tmp_path / "repo").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx", "tiny.onnx"]


def test_repository_holding_something_else_is_refused(tmp_path, tiny_onnx):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds 'notes.txt', which is not a Triton model folder"):
        write_repository(repo, [tiny_onnx])
    assert sorted(p.name for p in repo.iterdir()) == ["notes.txt"]
    with pytest.raises(InputError, match="is a file"):
        write_repository(tiny_onnx, [tiny_onnx])


@pytest.mark.parametrize("name", ["../up", "a b", "-x", "", "x" * 129])
def test_invalid_model_names_are_refused(tmp_path, tiny_onnx, name):
    with pytest.raises(InputError, match="model name: received"):
        write_repository(tmp_path / "repo", [tiny_onnx], RepositoryOptions(name=name))


def test_default_name_is_made_valid_from_the_file_name(tmp_path):
    artifact = make_onnx(tmp_path / "se resnet+int8.onnx")
    result = write_repository(tmp_path / "repo", [artifact])
    assert result.models[0].name == "se_resnet_int8"


def test_option_errors_name_the_value(tmp_path, tiny_onnx):
    with pytest.raises(InputError, match=r"--max-batch: received 64, expected 1..16"):
        write_repository(tmp_path / "r", [tiny_onnx], RepositoryOptions(max_batch=64))
    with pytest.raises(InputError, match=r"--preferred-batch: received \[32\]"):
        write_repository(tmp_path / "r", [tiny_onnx], RepositoryOptions(max_batch=8, preferred_batch=(4, 32)))
    with pytest.raises(InputError, match="one name for 2 artifacts"):
        write_repository(tmp_path / "r", [tiny_onnx, tiny_onnx], RepositoryOptions(name="x"))
    with pytest.raises(InputError, match="same model name"):
        write_repository(tmp_path / "r", [tiny_onnx, tiny_onnx])
