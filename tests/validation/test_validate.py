import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeattn.errors import InputError, ParityError
from edgeattn.validation import LOCALIZE_CAVEAT, infer_precision, validate


def _perturb(src, dst, initializer, scale=3.0):
    proto = onnx.load(src)
    for init in proto.graph.initializer:
        if init.name == initializer:
            arr = numpy_helper.to_array(init) * scale
            init.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), init.name))
            break
    else:
        raise AssertionError(f"no initializer {initializer}")
    onnx.save(proto, dst)
    return dst


def test_exported_model_passes_at_fp32(tiny_onnx):
    path, model = tiny_onnx
    report = validate(path, model=model, num_samples=5, batch_size=2, seed=3)
    assert report and report.passed
    art = report.artifacts[0]
    assert art.precision == "fp32" and art.backend == "onnxruntime"
    out = art.outputs[0]
    assert out.name == "logits" and out.shape == [5, 10]
    assert out.max_abs < 1e-4 and out.top1_agreement == 1.0
    assert art.localization is None  # nothing to localise on a pass
    assert art.runner["providers"] == ["CPUExecutionProvider"]
    assert report.inputs["count"] == 5 and report.inputs["seed"] == 3


def test_divergence_is_localised_to_the_first_bad_block(tiny_onnx, tmp_path):
    path, model = tiny_onnx
    bad = _perturb(path, tmp_path / "bad.onnx", "se2.fc2.weight")
    report = validate(bad, model=model, num_samples=3)
    assert not report
    loc = report.artifacts[0].localization
    assert loc is not None and loc.first_divergence == "se2"
    assert loc.caveat == LOCALIZE_CAVEAT and "change the results" in loc.caveat
    status = {p.module: p.passed for p in loc.probes}
    # Graph order: layer1, se1, layer2 before se2 -- all still match.
    assert [p.module for p in loc.probes] == ["layer1", "se1", "layer2", "se2"]
    assert status == {"layer1": True, "se1": True, "layer2": True, "se2": False}
    md = report.to_markdown()
    assert "first divergence" in md and "FAIL" in md


def test_divergence_in_a_stage_before_the_blocks(tiny_onnx, tmp_path):
    path, model = tiny_onnx
    conv = next(i.name for i in onnx.load(path).graph.initializer if i.name.startswith("layer1") and i.name.endswith("weight"))
    bad = _perturb(path, tmp_path / "bad1.onnx", conv, scale=1.5)
    report = validate(bad, model=model, num_samples=2)
    assert report.artifacts[0].localization.first_divergence == "layer1"


def test_no_localize_and_per_output_tolerance_rescue(tiny_onnx, tmp_path):
    path, model = tiny_onnx
    bad = _perturb(path, tmp_path / "bad2.onnx", "fc.bias", scale=1.5)
    failing = validate(bad, model=model, num_samples=2, localize=False)
    assert not failing and failing.artifacts[0].localization is None
    needed = failing.artifacts[0].outputs[0].required_atol_only
    assert needed > 0
    # The tolerance reported as "would pass" does pass.
    assert validate(bad, model=model, num_samples=2, atol={"logits": needed * 1.01}, rtol=0.0, min_cosine=0.0)


def test_several_artifacts_and_labelled_accuracy(tiny_onnx, tmp_path):
    path, model = tiny_onnx
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3, 16, 16)).astype(np.float32)
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    labels = pred.copy()
    labels[:2] = (labels[:2] + 1) % 10  # the reference gets 4 of 6 right
    np.savez(tmp_path / "data.npz", input=x, labels=labels)
    bad = _perturb(path, tmp_path / "bad3.onnx", "se1.fc2.weight", scale=-4.0)
    report = validate([path, bad], model=model, inputs=tmp_path / "data.npz", localize=False)
    assert report.reference_accuracy["top1"] == pytest.approx(4 / 6)
    good, broken = report.artifacts
    assert good.passed and not broken.passed and not report
    assert good.accuracy["top1"] == pytest.approx(4 / 6)
    data = json.loads(json.dumps(report.to_dict(), default=str))
    assert data["passed"] is False and len(data["artifacts"]) == 2


def test_fp16_precision_inferred_from_metadata_and_graph(tiny_onnx, tmp_path):
    path, model = tiny_onnx
    proto = onnx.load(path)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "edgeattn.precision", "fp16"
    onnx.save(proto, tmp_path / "tagged.onnx")
    assert infer_precision(tmp_path / "tagged.onnx") == "fp16"
    assert infer_precision(path) == "fp32"
    from onnxconverter_common import float16

    onnx.save(float16.convert_float_to_float16(onnx.load(path), keep_io_types=True), tmp_path / "half.onnx")
    assert infer_precision(tmp_path / "half.onnx") == "fp16"
    # The FP16 copy holds the same weights (rounded): it validates at fp16 tolerances.
    report = validate(tmp_path / "half.onnx", model=model, num_samples=2)
    assert report.artifacts[0].precision == "fp16" and report
    assert report.artifacts[0].outputs[0].tolerance.atol == 2e-2


def test_errors_are_clear(tiny_onnx, tmp_path):
    path, model = tiny_onnx
    with pytest.raises(InputError, match="not found"):
        validate(tmp_path / "missing.onnx", model=model)
    with pytest.raises(InputError, match="precision"):
        validate(path, model=model, precision="int4")
    plain = onnx.load(path)
    del plain.metadata_props[:]
    onnx.save(plain, tmp_path / "plain.onnx")
    with pytest.raises(ParityError, match="no source model"):
        validate(tmp_path / "plain.onnx")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(InputError, match="expected"):
        validate(path, model=model, inputs=tmp_path / "wrong.npy")


def test_reference_with_other_weights_fails_on_the_numbers_and_says_why(tiny_onnx):
    # A model re-created with another seed (no checkpoint recorded): the outputs decide (they
    # differ), and the report says the weights are not the artifact's and how to fix it.
    import sys
    from pathlib import Path

    from edgeattn.errors import EdgeattnWarning

    sys.path.insert(0, str(Path(__file__).parent))
    from _tiny_se import make_model

    path, _ = tiny_onnx
    with pytest.warns(EdgeattnWarning, match="--checkpoint"):
        report = validate(path, model=make_model(seed=1), num_samples=1)
    result = report.artifacts[0]
    assert not report and result.outputs and not result.passed
    assert result.weights["verdict"] == "different" and result.weights["equal"] == 0
    assert "--checkpoint" in result.notes[0] and "--checkpoint" in report.to_markdown()


def test_same_weights_are_recognised(tiny_onnx):
    path, model = tiny_onnx
    report = validate(path, model=model, num_samples=1)
    assert report and report.artifacts[0].weights["verdict"] == "same" and not report.artifacts[0].notes

def test_a_loaded_model_is_a_reference_and_names_its_source(tiny_onnx):
    from edgeattn.models import LoadedModel

    path, model = tiny_onnx
    report = validate(path, model=LoadedModel(model, source="tests:tiny"), num_samples=2)
    assert report.passed and report.reference["model"] == "tests:tiny"
