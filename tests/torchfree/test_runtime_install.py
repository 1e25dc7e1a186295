"""The runtime install (``pip install "edgeattn[cpu]"``, no PyTorch): every command works or says
in one ``Error:`` line which extra to install; artifacts are validated against their FP32 parent.

Every command runs in a fresh interpreter that cannot import torch, onnx-ir, onnxconverter-common,
Pillow, ... (see conftest.py), so an import of one of them on these paths fails the test.
"""

from __future__ import annotations

import json
import re
import sys

import onnx
import pytest
from onnx import numpy_helper

# Python 3.8 (JetPack 5.1, scripts/test-py38.sh): export and quantize are workstation commands
# there; they refuse up front, naming the Python version (pyproject marks their extras >= 3.10).
WORKSTATION_ONLY = sys.version_info < (3, 10)


def _one_error_line(result, extra: str) -> str:
    """The single 'Error:' line of a failed command, which must name ``edgeattn[extra]``."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert f'edgeattn[{extra}]' in errors[0], errors[0]
    if WORKSTATION_ONLY and extra in ("export", "quantize"):
        assert "needs Python >= 3.10" in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["export", "se_resnet_tiny", "-o", "{tmp}/m.onnx"], "export"),
        (["inspect", "se_resnet_tiny"], "export"),
        (["quantize", "{art}/digits.onnx", "-p", "fp16", "-o", "{tmp}/m16.onnx"], "quantize"),
        (["quantize", "{art}/digits.onnx", "-p", "int8", "-o", "{tmp}/m8.onnx", "--calibration", "{art}/data/train"], "images"),
        (["validate", "{art}/bare/digits.onnx"], "export"),
        (["validate", "{art}/digits_int8.onnx", "--reference", "{art}/digits.onnx", "--inputs", "{art}/data/heldout"], "images"),
        (["bench", "{art}/digits.onnx", "--chart", "{tmp}/c.png"], "bench"),
    ],
    ids=["export", "inspect-model", "quantize-fp16", "quantize-images", "validate-pytorch", "validate-images", "bench-chart"],
)
def test_a_missing_extra_is_one_error_line_before_any_work(cli, artifacts, tmp_path, args, extra):
    if WORKSTATION_ONLY and args[0] == "quantize":
        extra = "quantize"  # refused for the Python version before the calibration images are looked at
    result = cli(*(a.format(art=artifacts, tmp=tmp_path) for a in args))
    _one_error_line(result, extra)
    assert list(tmp_path.iterdir()) == []  # said up front: nothing calibrated, benchmarked or written


def test_validate_names_the_torch_free_alternative(cli, artifacts):
    result = cli("validate", artifacts / "bare" / "digits.onnx")  # no recorded set beside it, no --reference
    _one_error_line(result, "export")
    assert "--reference" in result.stderr


def test_fp32_export_validates_against_what_pytorch_recorded_at_export(cli, artifacts, tmp_path):
    report = tmp_path / "r.json"
    result = cli("validate", artifacts / "digits.onnx", "--report-json", report)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["reference"]["recorded"].endswith("digits.onnx.reference.npz")
    assert data["artifacts"][0]["passed"] is True and data["inputs"]["count"] == 8


def test_int8_against_its_fp32_parent_passes_on_held_out_data(cli, artifacts, tmp_path):
    report = tmp_path / "r.json"
    result = cli("validate", artifacts / "digits_int8.onnx", "--reference", artifacts / "digits.onnx",
                 "--inputs", artifacts / "heldout.npz", "--report-json", report)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["reference"]["artifact"].endswith("digits.onnx")
    assert data["inputs"]["count"] == 200
    (art,) = data["artifacts"]
    (out,) = art["outputs"]
    assert out["cosine"] > 0.99 and out["top1_agreement"] >= 0.97


def _corrupt(src, dest):
    """A copy of ``src`` whose largest weight tensor is shuffled (values kept, order lost): a broken conversion."""
    import numpy as np

    model = onnx.load(str(src))
    biggest = max(model.graph.initializer, key=lambda i: int(np.prod(i.dims)))
    values = numpy_helper.to_array(biggest)
    shuffled = np.random.default_rng(0).permutation(values.reshape(-1)).reshape(values.shape)
    biggest.CopyFrom(numpy_helper.from_array(shuffled, biggest.name))
    onnx.save(model, str(dest))
    return dest


def test_a_corrupted_int8_artifact_fails_against_its_parent(cli, artifacts, tmp_path):
    broken = _corrupt(artifacts / "digits_int8.onnx", tmp_path / "broken_int8.onnx")
    result = cli("validate", broken, "--reference", artifacts / "digits.onnx", "--inputs", artifacts / "heldout.npz")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "FAIL" in result.stdout


def test_reference_and_pytorch_model_are_exclusive(cli, artifacts):
    result = cli("validate", artifacts / "digits_int8.onnx", "--reference", artifacts / "digits.onnx", "--model", "se_resnet_tiny")
    assert result.returncode == 1
    assert re.search(r"^Error: .*reference", result.stderr, re.M), result.stderr


def test_int8_quantization_runs_without_torch(cli, artifacts, tmp_path):
    out = tmp_path / "q8.onnx"
    result = cli("quantize", artifacts / "digits.onnx", "-p", "int8", "-o", out, "--calibration", artifacts / "heldout.npz")
    if WORKSTATION_ONLY:
        _one_error_line(result, "quantize")
        assert not out.exists()
        return
    assert result.returncode == 0, result.stderr[-3000:]
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "QuantizeLinear" in ops or "QLinearConv" in ops or "DequantizeLinear" in ops


def test_inspect_reads_an_onnx_artifact(cli, artifacts):
    result = cli("inspect", artifacts / "digits_int8.onnx", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)
    assert data["format"] == "onnx" and data["precision"] == "int8"
    (inp,) = data["inputs"]
    assert inp["shape"][1:] == [1, 32, 32] and inp["dtype"] == "float32"
    assert any(c.get("int8") for c in data["precision_by_op"].values())
    # The default INT8 policy (--attention-policy gate) inlines the edgeattn:: functions; the
    # recorded blocks still name each block's input and output tensors.
    assert data["folded_blocks"] == {}
    assert [b["op_type"] for b in data["blocks"]] == ["SqueezeExcite", "ChannelAttention", "SpatialAttention"]
    assert data["preprocessing"]["input_size"] == [1, 32, 32]
    assert data["provenance"]["source"].endswith("model.py:create")


def test_inspect_fp32_has_no_int8_ops(cli, artifacts):
    data = json.loads(cli("inspect", artifacts / "digits.onnx", "--json").stdout)
    assert data["precision"] == "fp32"
    assert not any(c.get("int8") for c in data["precision_by_op"].values())


def test_bench_runs_without_torch(cli, artifacts):
    result = cli("bench", artifacts / "digits.onnx", "--batch-sizes", "1", "--iterations", "5", "--warmup", "1", "--json")
    assert result.returncode == 0, result.stderr[-3000:]


def test_quantize_records_real_inputs_and_parent_outputs(artifacts):
    import numpy as np

    from edgeattn.data.reference_set import read_reference_set

    recorded = read_reference_set(artifacts / "digits_int8.onnx.reference.npz")
    assert recorded.inputs.shape[1:] == (1, 32, 32) and 8 <= len(recorded.inputs) <= 32
    (logits,) = recorded.outputs.values()
    assert logits.shape == (len(recorded.inputs), 10)
    # Calibration images, not noise: the FP32 parent is confident on each (noise gives flat logits).
    probs = np.exp(logits - logits.max(1, keepdims=True))
    assert (probs.max(1) / probs.sum(1)).mean() > 0.8
    assert recorded.meta["parent"] == "digits.onnx"


def test_int8_without_data_uses_the_recorded_set_and_passes(cli, artifacts, tmp_path):
    report = tmp_path / "r.json"
    result = cli("validate", artifacts / "digits_int8.onnx", "--report-json", report)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["reference"]["recorded"].endswith("digits_int8.onnx.reference.npz")
    assert data["inputs"]["source"].startswith("recorded")
    assert data["artifacts"][0]["unjudged"] is None and data["artifacts"][0]["passed"] is True


def test_a_corrupted_int8_artifact_fails_against_the_recorded_set(cli, artifacts, tmp_path):
    broken = _corrupt(artifacts / "digits_int8.onnx", tmp_path / "broken_int8.onnx")
    (tmp_path / "broken_int8.onnx.reference.npz").write_bytes((artifacts / "digits_int8.onnx.reference.npz").read_bytes())
    result = cli("validate", broken)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "recorded" in result.stdout and "FAIL" in result.stdout


def test_int8_on_random_inputs_is_not_judged(cli, artifacts, tmp_path):
    # The same correct INT8 model fails tolerances on noise (cosine ~0.94): no false alarm.
    lone = tmp_path / "digits_int8.onnx"
    lone.write_bytes((artifacts / "digits_int8.onnx").read_bytes())
    report = tmp_path / "r.json"
    result = cli("validate", lone, "--reference", artifacts / "digits.onnx", "--report-json", report)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "NOT JUDGED" in result.stdout
    (art,) = json.loads(report.read_text())["artifacts"]
    assert "random inputs" in art["unjudged"]
    assert art["outputs"][0]["cosine"] < 0.98  # the tolerance it would have failed


def test_a_recorded_set_and_inputs_are_exclusive(cli, artifacts):
    result = cli("validate", artifacts / "digits_int8.onnx", "--reference", artifacts / "digits_int8.onnx.reference.npz",
                 "--inputs", artifacts / "heldout.npz")
    assert result.returncode == 1
    assert "Error: received --inputs with a recorded reference set" in result.stderr


def test_a_file_that_is_not_a_reference_set_is_one_error_line(cli, artifacts, tmp_path):
    import numpy as np

    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((2, 1, 32, 32), np.float32))
    result = cli("validate", artifacts / "digits_int8.onnx", "--reference", bad)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "expected 'inputs' and 'output/<name>'" in result.stderr


def test_build_without_tensorrt_is_one_error_line(cli, artifacts, tmp_path):
    result = cli("build", artifacts / "digits.onnx", "-o", tmp_path / "m.engine")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: TensorRT is not installed (import tensorrt failed: No module named 'tensorrt')"
    ]
    assert list(tmp_path.iterdir()) == []


def test_models_lists_the_zoo_without_torch(cli):
    result = cli("models", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "se_resnet_tiny" in {m["name"] for m in json.loads(result.stdout)}


def test_recording_needs_one_whole_fixed_batch(artifacts, tmp_path):
    import numpy as np
    from edgeattn.data.reference_set import read_reference_set, record_outputs

    model = onnx.load(str(artifacts / "digits.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4  # a fixed batch of 4
    fixed = tmp_path / "fixed4.onnx"
    onnx.save(model, str(fixed))
    x = np.load(artifacts / "heldout.npz")["x"]
    assert record_outputs(fixed, x[:3], {}) is None
    recorded = record_outputs(fixed, x[:10], {"producer": "test"})
    assert len(recorded.inputs) == 8 and recorded.outputs["logits"].shape == (8, 10)
    path = tmp_path / "set.reference.npz"
    path.write_bytes(recorded.to_bytes())
    again = read_reference_set(path)
    assert np.array_equal(again.inputs, x[:8]) and again.producer == "test"
