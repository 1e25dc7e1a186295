"""export --bake-preprocessing: the artifact takes uint8 pixels and normalises them itself
(issue 10 item 7); the runner's preprocessing, validate and the other commands handle it."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

import edgeattn
from edgeattn.artifact import ArtifactInfo
from edgeattn.cli import app
from edgeattn.errors import InputError
from edgeattn.models import load_model

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return load_model("se_resnet_tiny")  # one set of weights for every export below


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("bake")
    paths = {"float": folder / "float.onnx", "nchw": folder / "nchw.onnx", "nhwc": folder / "nhwc.onnx"}
    edgeattn.export(model, paths["float"], input_shape=(1, 3, 32, 32))
    for layout in ("nchw", "nhwc"):
        edgeattn.export(model, paths[layout], input_shape=(1, 3, 32, 32), bake_preprocessing=True, input_layout=layout)
    return paths


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_the_baked_graph_takes_pixels_and_matches_pytorch_on_normalised_pixels(exported, model):
    pixels = np.random.default_rng(1).integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    # ImageNet normalisation written out here, independently of the code under test.
    x = ((pixels / 255.0 - MEAN[None, :, None, None]) / STD[None, :, None, None]).astype(np.float32)
    with torch.no_grad():
        expected = model.module(torch.from_numpy(x)).numpy()
    for layout, feed in (("nchw", pixels), ("nhwc", pixels.transpose(0, 2, 3, 1).copy())):
        session = _session(exported[layout])
        (inp,) = session.get_inputs()
        assert inp.type == "tensor(uint8)"
        assert inp.shape[1:] == ([3, 32, 32] if layout == "nchw" else [32, 32, 3])
        np.testing.assert_allclose(session.run(None, {inp.name: feed})[0], expected, rtol=1e-4, atol=1e-4)


def test_the_record_says_the_recipe_is_in_the_graph(exported):
    for layout in ("nchw", "nhwc"):
        info = ArtifactInfo.read(exported[layout])
        assert info.preprocessing.in_graph == layout
        assert info.input_size == (3, 32, 32)  # C, H, W even when the graph input is N, H, W, C
        assert info.input.dtype == "uint8"
    assert ArtifactInfo.read(exported["float"]).preprocessing.in_graph is None


def test_runner_preprocessing_gives_pixels_in_the_artifact_layout(exported):
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, size=(40, 48, 3), dtype=np.uint8))
    float_runner = edgeattn.load(exported["float"])
    expected = float_runner.run(float_runner.preprocessing(image)[None])["logits"]
    for layout in ("nchw", "nhwc"):
        runner = edgeattn.load(exported[layout])
        pixels = runner.preprocessing(image)
        assert pixels.dtype == np.uint8 and pixels.shape == ((3, 32, 32) if layout == "nchw" else (32, 32, 3))
        # The same image through the float artifact: equal up to the rounding to 8-bit pixels.
        np.testing.assert_allclose(runner.run(pixels[None])["logits"], expected, rtol=1e-2, atol=1e-2)


def test_the_runner_names_what_a_baked_input_expects(exported):
    runner = edgeattn.load(exported["nhwc"])
    with pytest.raises(InputError, match="expected uint8 .*normalises them in its graph"):
        runner.run(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(InputError, match="looks like NCHW .*transpose\\(0, 2, 3, 1\\)"):
        runner.run(np.zeros((1, 3, 32, 32), np.uint8))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_validate_feeds_pixels_to_a_baked_artifact(exported, model, layout):
    report = edgeattn.validate([exported[layout], exported["float"]], model=model, num_samples=4)
    assert report.passed, report.to_dict()
    assert all(o.max_abs < 1e-3 for a in report.artifacts for o in a.outputs)


def test_quantize_and_build_say_they_need_the_float_export(exported, tmp_path):
    from edgeattn.exporter.quantize import quantize

    with pytest.raises(InputError, match="takes uint8 pixels .*quantize expects the float-input export"):
        quantize(exported["nchw"], tmp_path / "q.onnx", precision="fp16")


def test_cli_flags(tmp_path):
    out = tmp_path / "m.onnx"
    result = CliRunner().invoke(app, ["export", "se_resnet_tiny", "-o", str(out), "--input-size", "3,32,32",
                                      "--bake-preprocessing", "--input-layout", "nhwc"])
    assert result.exit_code == 0, result.output
    assert ArtifactInfo.read(out).preprocessing.in_graph == "nhwc"
    bad = CliRunner().invoke(app, ["export", "se_resnet_tiny", "-o", str(tmp_path / "x.onnx"), "--input-layout", "hwc"])
    assert bad.exit_code == 2
