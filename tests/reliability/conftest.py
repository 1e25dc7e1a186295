"""Small files the reliability tests feed to commands (built here, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_onnx import save_tiny_classifier


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    return save_tiny_classifier(tmp_path / "m.onnx")
