"""Fixtures for the Triton tests (helpers in _artifacts.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _artifacts import make_onnx  # noqa: E402


@pytest.fixture()
def tiny_onnx(tmp_path: Path) -> Path:
    return make_onnx(tmp_path / "tiny.onnx")
