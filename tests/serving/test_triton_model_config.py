"""config.pbtxt against Triton's own model_config.proto (tritonclient's compiled copy)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.errors import InputError
from edgeattn.artifact import InputSpec
from edgeattn.serving.artifact_info import ArtifactInfo, TensorInfo
from edgeattn.serving.model_config import config_problems, ensemble_problems, parse_config, triton_type

ARTIFACT = ArtifactInfo(
    path=__import__("pathlib").Path("m.onnx"),
    kind="onnx",
    inputs=(TensorInfo("input", np.dtype("float32"), (-1, 3, 4, 4)),),
    outputs=(TensorInfo("logits", np.dtype("float32"), (-1, 10)),),
    input=InputSpec("input", 3, 4, 4, dynamic_batch=True, max_batch=8),
    precision="fp32",
)

GOOD = """
name: "m"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 4, 4 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { preferred_batch_size: [ 4 ] }
"""


def test_a_hand_written_config_in_triton_syntax_parses_and_agrees():
    config = parse_config(GOOD)
    assert config.max_batch_size == 8
    assert config_problems(config, ARTIFACT) == []


def test_unknown_field_or_enum_is_rejected_by_the_schema():
    with pytest.raises(InputError, match="does not parse with Triton's model_config.proto"):
        parse_config(GOOD.replace("max_batch_size", "max_batch"))
    with pytest.raises(InputError, match="model_config.proto"):
        parse_config(GOOD.replace("TYPE_FP32", "TYPE_FLOAT32", 1))


def test_dims_dtype_and_batch_disagreements_are_reported():
    bad = GOOD.replace("dims: [ 3, 4, 4 ]", "dims: [ -1, 3, 4, 4 ]").replace("dims: [ 10 ]", "dims: [ 10 ] ").replace(
        'data_type: TYPE_FP32 dims: [ 10 ]', 'data_type: TYPE_FP16 dims: [ 10 ]'
    ).replace("max_batch_size: 8", "max_batch_size: 32")
    problems = config_problems(parse_config(bad), ARTIFACT)
    assert any("input 'input': dims [-1, 3, 4, 4], the artifact has [3, 4, 4]" in p for p in problems)
    assert any("data_type TYPE_FP16, the artifact has TYPE_FP32" in p for p in problems)
    assert any("max_batch_size 32 exceeds the artifact's 8" in p for p in problems)


def test_preferred_batch_beyond_max_and_batcher_without_batching():
    config = parse_config(GOOD.replace("preferred_batch_size: [ 4 ]", "preferred_batch_size: [ 16 ]"))
    assert config_problems(config) == ["preferred batch size 16 is outside 1..max_batch_size (8)"]
    config = parse_config(GOOD.replace("max_batch_size: 8", "max_batch_size: 0").replace("[ 4 ]", "[ ]"))
    assert "dynamic_batching needs max_batch_size > 0" in config_problems(config)


def test_ensemble_steps_must_match_their_models():
    pre = parse_config('name: "p" backend: "python" max_batch_size: 8 input [{name: "image" data_type: TYPE_STRING dims: [1]}] '
                       'output [{name: "input" data_type: TYPE_FP32 dims: [3, 4, 4]}]')
    model = parse_config(GOOD)
    ensemble = parse_config(
        'name: "e" platform: "ensemble" max_batch_size: 8 input [{name: "image" data_type: TYPE_STRING dims: [1]}] '
        'output [{name: "logits" data_type: TYPE_FP32 dims: [10]}] ensemble_scheduling { '
        'step [{model_name: "p" model_version: -1 input_map {key: "image" value: "image"} output_map {key: "input" value: "pre"}}, '
        '{model_name: "m" model_version: -1 input_map {key: "input" value: "pre"} output_map {key: "logits" value: "logits"}}] }'
    )
    assert ensemble_problems(ensemble, {"p": pre, "m": model}) == []
    broken = parse_config(ensemble.__str__().replace('value: "pre"\n', 'value: "other"\n', 1))
    problems = ensemble_problems(broken, {"p": pre, "m": model})
    assert "step 'm' reads 'pre', which no earlier step produces" in problems
    assert ensemble_problems(ensemble, {"p": pre}) == ["step model 'm' is not in the repository", "ensemble output 'logits' is produced by no step"]


@pytest.mark.parametrize(("dtype", "name"), [("float32", "TYPE_FP32"), ("float16", "TYPE_FP16"), ("int64", "TYPE_INT64"), (object, "TYPE_STRING")])
def test_dtype_mapping(dtype, name):
    assert triton_type(dtype) == name


def test_unmappable_dtype_is_an_input_error():
    with pytest.raises(InputError, match="complex64 has no Triton data type"):
        triton_type(np.complex64)
