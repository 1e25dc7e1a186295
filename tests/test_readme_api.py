"""The README's Python API tour, run for real on the committed digits model (ORT on the CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeattn

ROOT = Path(__file__).resolve().parents[1]
MODEL = f"{ROOT / 'examples/digits/model.py'}:create"
CHECKPOINT = ROOT / "examples/digits/digits_cbam.safetensors"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A small labelled image folder (class sub-folders) made from scikit-learn's digits."""
    from PIL import Image
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    for i in range(60):
        folder = root / str(digits.target[i])
        folder.mkdir(exist_ok=True)
        pixels = np.clip(digits.images[i] * (255 / 16), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "L").resize((32, 32), Image.Resampling.BILINEAR).save(folder / f"{i}.png")
    return root


def test_readme_api_tour(tmp_path: Path, images: Path) -> None:
    fp32, int8 = tmp_path / "digits.onnx", tmp_path / "digits_int8.onnx"
    result = edgeattn.export(MODEL, fp32, checkpoint=CHECKPOINT)
    assert {b["op_type"] for b in result.to_dict()["blocks"]} == {"SqueezeExcite", "ChannelAttention", "SpatialAttention"}

    edgeattn.quantize(fp32, int8, "int8", calibration=images)
    # The model is our own file.py:factory: running it again needs the opt-in (its sha256 is checked).
    report = edgeattn.validate([fp32, int8], inputs=images, trust_provenance=True)
    assert report  # truthy on pass

    with edgeattn.load(fp32, threads=2) as runner:
        batch = np.zeros((2, *runner.inputs[0].shape[1:]), np.float32)
        logits = runner.run(batch)["logits"]
    assert logits.shape == (2, 10)
