"""Shared pytest fixtures for all areas (add yours below, keep them cheap)."""

from __future__ import annotations

import os

import pytest

# backend="auto" for an .onnx times ONNX Runtime against OpenVINO where OpenVINO is installed
# (edgeattn/runtime/auto_backend.py): seconds per artifact, a machine-dependent winner and a cache
# in the home folder. The suite asks for the rule (ONNX Runtime) everywhere, subprocesses
# included; tests/runtime/test_auto_backend.py clears it to test the measurement.
os.environ["EDGEATTN_AUTO_BACKEND"] = "onnxruntime"


@pytest.fixture(scope="session")
def small_se_model():
    """Edge-sized SE network (MobileNetV3-Small style, ~2.2M params), eval mode, 10 classes."""
    torch = pytest.importorskip("torch")  # none in the runtime-only run (scripts/test-py38.sh)

    from edgeattn.models import create_model

    torch.manual_seed(0)
    return create_model("se_mobilenet_small", num_classes=10)


@pytest.fixture(scope="session")
def tiny_se_model():
    """Smallest SE network (4 basic blocks, widths 16-128, ~0.45M params), eval mode, 10 classes."""
    torch = pytest.importorskip("torch")  # none in the runtime-only run (scripts/test-py38.sh)

    from edgeattn.models import create_model

    torch.manual_seed(0)
    return create_model("se_resnet_tiny", num_classes=10)
