import json

import numpy as np
import pytest
from PIL import Image

from edgeattn.artifact import ArtifactInfo
from edgeattn.data import Preprocessing
from edgeattn.errors import InputError


def _image(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("size,wh", [(224, (320, 240)), (224, (240, 400)), (64, (100, 100))])
def test_matches_torchvision_eval_transform(size, wh):
    T = pytest.importorskip("torchvision.transforms")  # the runtime-only run has no torchvision

    image = _image(*wh)
    reference = T.Compose(
        [
            T.Resize(int(size / 0.875), interpolation=T.InterpolationMode.BILINEAR, antialias=True),
            T.CenterCrop(size),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )(image).numpy()
    ours = Preprocessing(input_size=(3, size, size))(image)
    assert ours.dtype == np.float32 and ours.shape == (3, size, size)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_bgr_reverses_channels_and_applies_mean_in_model_order():
    image = Image.fromarray(np.full((8, 8, 3), (255, 0, 51), dtype=np.uint8), "RGB")
    pre = Preprocessing(input_size=(3, 8, 8), mean=(0.0, 0.0, 1.0), std=(1.0, 1.0, 1.0), channel_order="BGR", crop_pct=1.0)
    out = pre(image)
    # BGR order: channel 0 is blue (51/255), channel 2 is red (1.0) minus mean 1.0.
    np.testing.assert_allclose(out[:, 0, 0], [0.2, 0.0, 0.0], atol=1e-6)


def test_grayscale_for_one_channel_models():
    image = Image.fromarray(np.full((10, 10, 3), 255, dtype=np.uint8), "RGB")
    out = Preprocessing(input_size=(1, 10, 10), mean=(0.5,), std=(0.5,), crop_pct=1.0)(image)
    assert out.shape == (1, 10, 10)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)


def test_round_trip_dict_and_input_config_keys():
    pre = Preprocessing(input_size=(3, 96, 128), interpolation="bicubic", crop_pct=0.9, channel_order="BGR")
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    # A provenance record written before the recipe carried scale/source still reads.
    cfg = {"input_size": (3, 256, 256), "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic",
           "crop_pct": 0.95, "channel_order": "RGB"}
    built = Preprocessing.from_dict(cfg)
    assert built.input_size == (3, 256, 256) and built.crop_pct == 0.95 and built.mean == (0.5, 0.5, 0.5)


def test_non_square_uses_exact_resize():
    pre = Preprocessing(input_size=(3, 100, 200), crop_pct=0.5)
    assert pre.resize_size() == (200, 400)
    assert pre(_image(50, 50)).shape == (3, 100, 200)


@pytest.mark.parametrize(
    "kwargs",
    [{"interpolation": "cubic-ish"}, {"crop_pct": 1.5}, {"channel_order": "RBG"}, {"mean": (0.1, 0.2)}, {"std": (0, 1, 1)}],
)
def test_bad_values_are_input_errors(kwargs):
    with pytest.raises(InputError):
        Preprocessing(**kwargs)


def test_from_onnx_reads_provenance(tmp_path):
    import onnx
    from onnx import helper, TensorProto

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 32, 48])],
    )
    model = helper.make_model(graph)
    prov = {"source": "tiny", "preprocessing": {"input_size": [3, 32, 48], "mean": [0.1, 0.2, 0.3],
                                                 "std": [1, 1, 1], "crop_pct": 1.0, "interpolation": "bicubic"}}
    helper.set_model_props(model, {"edgeattn.provenance": json.dumps(prov)})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert ArtifactInfo.read(path).provenance["source"] == "tiny"
    pre = Preprocessing.from_onnx(path)
    assert pre.input_size == (3, 32, 48) and pre.interpolation == "bicubic" and pre.mean == (0.1, 0.2, 0.3)
    # No provenance -> None, not a guess.
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), plain)
    assert Preprocessing.from_onnx(plain) is None


def test_from_model_uses_the_models_input_config(small_se_model):
    from edgeattn.models import input_config

    config = input_config(small_se_model)
    pre = Preprocessing.from_model(small_se_model)
    assert pre.input_size == tuple(config.input_size)
    assert pre.mean == tuple(config.mean) and pre.crop_pct == config.crop_pct
    # An explicit size wins (a model exported at another resolution).
    assert Preprocessing.from_model(small_se_model, input_size=(3, 64, 64)).input_size == (3, 64, 64)


# ------------------------------------------------------------- what a service hands in
def _identity_recipe(h: int, w: int) -> Preprocessing:
    """No resize or crop, mean 0, std 1: the tensor is the pixels / 255, channels first."""
    return Preprocessing(input_size=(3, h, w), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_pct=1.0)


def test_every_image_form_gives_the_same_tensor(tmp_path):
    import io

    pixels = np.random.default_rng(3).integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path)
    encoded = path.read_bytes()
    pre = _identity_recipe(12, 16)
    expected = pixels.transpose(2, 0, 1).astype(np.float32) / 255.0  # computed here, not by the recipe
    forms = [Image.open(path), encoded, bytearray(encoded), memoryview(encoded), io.BytesIO(encoded), path, str(path), pixels]
    for form in forms:
        np.testing.assert_allclose(pre(form), expected, rtol=0, atol=1e-6, err_msg=type(form).__name__)
    with open(path, "rb") as handle:  # an open binary file, as a web framework's upload gives
        np.testing.assert_allclose(pre(handle), expected, rtol=0, atol=1e-6)


def test_grey_and_rgba_arrays_are_images_too():
    pre = _identity_recipe(4, 4)
    grey = np.full((4, 4), 51, np.uint8)
    np.testing.assert_allclose(pre(grey), np.full((3, 4, 4), 0.2, np.float32), atol=1e-6)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    out = pre(rgba)
    assert out.shape == (3, 4, 4) and np.allclose(out[0], 1.0) and np.allclose(out[1:], 0.0)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (b"not an image at all", r"cannot read image \(19 bytes\)"),
        (np.zeros((3, 8, 8), np.float32), r"received an array float32\[3, 8, 8\] as an image; expected uint8"),
        (np.zeros((8, 8, 2), np.uint8), r"expected uint8 \[H, W\] or \[H, W, C\] with C = 1, 3 or 4"),
        (12345, r"received a int as an image; expected a PIL image, encoded bytes"),
    ],
)
def test_a_bad_image_is_an_input_error(image, match):
    with pytest.raises(InputError, match=match):
        _identity_recipe(8, 8)(image)


def test_the_runner_gives_the_recorded_recipe_without_reading_the_file_again(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from edgeattn.runtime import load

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 32, 48])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    recipe = {"input_size": [3, 32, 48], "mean": [0.1, 0.2, 0.3], "std": [1, 1, 1], "crop_pct": 1.0, "interpolation": "bicubic"}
    helper.set_model_props(model, {"edgeattn.provenance": json.dumps({"source": "tiny", "preprocessing": recipe})})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    runner = load(path, backend="onnxruntime")
    runner.load()
    path.unlink()  # the session's metadata is all the runner has now
    pre = runner.preprocessing
    assert pre.input_size == (3, 32, 48) and pre.mean == (0.1, 0.2, 0.3) and pre.interpolation == "bicubic"
    batch = pre(np.zeros((32, 48, 3), np.uint8))[None]
    np.testing.assert_allclose(runner.run(batch)["y"], batch)
