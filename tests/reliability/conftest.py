"""Small files the reliability tests feed to commands (built here, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from tests.tiny_onnx import tiny_classifier


def tiny_onnx(path: Path, *, channels: int = 3, size: int = 8, classes: int = 4) -> Path:
    """The shared tiny classifier (tests/tiny_onnx.py), with a provenance naming a registry model."""
    model = tiny_classifier(channels=channels, size=size, classes=classes, metadata={"edgeattn.provenance": {"source": "se_resnet_tiny"}})
    onnx.save(model, path)
    return path


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "m.onnx")
