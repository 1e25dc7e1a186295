"""Fixtures for the precision tests: the hand-built models of ``_qgraphs`` saved to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from _qgraphs import build_folded, build_plain


@pytest.fixture()
def folded_onnx(tmp_path: Path) -> Path:
    path = tmp_path / "folded.onnx"
    onnx.save(build_folded(), path)
    return path


@pytest.fixture()
def plain_onnx(tmp_path: Path) -> Path:
    path = tmp_path / "plain.onnx"
    onnx.save(build_plain(), path)
    return path


@pytest.fixture()
def calib_npy(tmp_path: Path) -> Path:
    path = tmp_path / "calib.npy"
    np.save(path, np.random.default_rng(1).standard_normal((48, 3, 16, 16)).astype(np.float32))
    return path


@pytest.fixture()
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
