"""Export writes a reference set beside the artifact: synthetic images through the model's recipe
and PyTorch's outputs for them, so validate needs no PyTorch on the device (issue 10 item 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgeattn
from edgeattn.data.reference_set import read_reference_set, reference_set_path
from edgeattn.models import load_model

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = load_model("se_resnet_tiny")
    path = tmp_path_factory.mktemp("refset") / "m.onnx"
    edgeattn.export(model, path, input_shape=(1, 3, 32, 32))
    return model, path


def test_the_set_holds_pixel_images_and_pytorchs_outputs(exported):
    model, path = exported
    recorded = read_reference_set(reference_set_path(path))
    assert recorded.inputs.shape == (8, 3, 32, 32)
    # Undo the ImageNet normalisation by hand: whole pixel values 0..255.
    pixels = (recorded.inputs * STD[None, :, None, None] + MEAN[None, :, None, None]) * 255.0
    np.testing.assert_allclose(pixels, np.rint(pixels), atol=1e-3)
    assert pixels.min() > -0.5 and pixels.max() < 255.5
    with torch.no_grad():
        expected = model.module(torch.from_numpy(recorded.inputs)).numpy()
    np.testing.assert_allclose(recorded.outputs["logits"], expected, rtol=1e-5, atol=1e-5)
    assert "at export" in recorded.producer


def test_validate_against_the_recorded_outputs_without_pytorch(exported, tmp_path):
    import onnx

    _, path = exported
    report = edgeattn.validate(path, reference=reference_set_path(path))
    assert report.passed and report.inputs["count"] == 8
    # A corrupted copy fails against the same set.
    proto = onnx.load(path)
    weight = next(t for t in proto.graph.initializer if len(t.dims) == 4)
    values = onnx.numpy_helper.to_array(weight).copy()
    values *= -1.0
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, broken)
    assert not edgeattn.validate(broken, reference=reference_set_path(path), localize=False).passed
