"""A failed INT8 artifact names what to keep in FP32 (issue 14 item 10): the units of the
``--sensitivity`` ranking beside it, or the command that writes that ranking."""

import json

import numpy as np
import pytest

from edgeattn.validation import validate
from edgeattn.validation.int8_advice import keep_fp32_advice, sensitivity_path


def _sidecar(path, quantize_attention=False, reduce_range=True, attention=None):
    policy = {"quantize_attention": quantize_attention, **({"attention": attention} if attention else {})}
    data = {"quantization": {"precision": "int8", "policy": policy,
                             "settings": {"reduce_range": reduce_range}}}
    (path.parent / (path.name + ".json")).write_text(json.dumps(data))


def _ranking(path, rows, whole=0.25):
    sensitivity_path(path).write_text(json.dumps({
        "model": "m.onnx", "samples": 64, "method": "minmax", "all_int8_default_policy": {"rel_l2": whole},
        "units": [{"unit": u, "kind": k, "nodes": 3, "rel_l2": e, "agreement": 0.5, "rank": i + 1}
                  for i, (u, k, e) in enumerate(rows)]}))


ROWS = [("blocks.3", "stage", 0.21), ("blocks.4.0.se", "attention", 0.16), ("blocks.2", "stage", 0.12),
        ("blocks.1", "stage", 0.09), ("head", "stage", 0.02)]


def test_sensitivity_file_is_named_after_the_output():
    assert sensitivity_path("out/m.int8.onnx").as_posix() == "out/m.int8.sensitivity.json"


def test_names_the_stages_within_half_of_the_worst(tmp_path):
    art = tmp_path / "m.int8.onnx"
    _sidecar(art)
    _ranking(art, ROWS)
    advice = keep_fp32_advice(art)
    # An artifact from before the attention field, blocks FP32: the attention row is not advice.
    # blocks.1 (0.09) is below half of the worst (0.105), head far below.
    assert "--keep-fp32 blocks.3 --keep-fp32 blocks.2;" in advice
    assert "blocks.4.0.se" not in advice and "blocks.1 " not in advice and "head" not in advice
    assert "(whole model 0.25)" in advice and "--no-reduce-range" in advice


@pytest.mark.parametrize("policy", [{"quantize_attention": True}, {"attention": "int8"}, {"attention": "gate"}])
def test_attention_units_count_when_the_artifact_quantized_them(tmp_path, policy):
    art = tmp_path / "m.int8.onnx"
    _sidecar(art, reduce_range=False, **policy)
    _ranking(art, ROWS)
    advice = keep_fp32_advice(art)
    assert "--keep-fp32 blocks.3 --keep-fp32 blocks.4.0.se --keep-fp32 blocks.2" in advice
    assert "reduce-range" not in advice


def test_attention_policy_fp32_leaves_the_blocks_out_of_the_advice(tmp_path):
    art = tmp_path / "m.int8.onnx"
    _sidecar(art, attention="fp32")
    _ranking(art, ROWS)
    assert "blocks.4.0.se" not in keep_fp32_advice(art)


@pytest.mark.parametrize("content", [None, "not json", json.dumps([1, 2]), json.dumps({"units": [{"unit": 3}]})])
def test_without_a_usable_ranking_names_the_command(tmp_path, content):
    art = tmp_path / "m.int8.onnx"
    if content is not None:
        sensitivity_path(art).write_text(content)
    advice = keep_fp32_advice(art)  # no sidecar either: nothing known about the policy
    assert "--sensitivity -o m.int8.onnx" in advice and "m.int8.sensitivity.json" in advice
    assert "reduce-range" not in advice


def test_validate_attaches_the_advice_to_a_failed_int8_artifact(tiny_onnx, tmp_path):
    from edgeattn.exporter.quantize import quantize

    path, model = tiny_onnx
    x = np.random.default_rng(0).normal(size=(8, 3, 16, 16)).astype(np.float32)
    art = tmp_path / "tiny.int8.onnx"
    quantize(path, art, "int8", x, num_calibration=None, progress=False, use_cache=False)
    _ranking(art, [("layer2", "stage", 0.3), ("layer1", "stage", 0.01)])
    failed = validate(art, model=model, inputs=x, atol=0.0, rtol=0.0, min_cosine=1.0, localize=False)
    result = failed.artifacts[0]
    assert not failed and result.precision == "int8"
    assert "--keep-fp32 layer2;" in result.advice and "layer1" not in result.advice
    assert result.to_dict()["advice"] == result.advice and "Advice: " in failed.to_markdown()
    passed = validate(art, model=model, inputs=x, atol=1e3, rtol=1e3, min_cosine=0.0)
    assert passed and passed.artifacts[0].advice is None
