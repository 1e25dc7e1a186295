"""Shared pytest fixtures for all areas (add yours below, keep them cheap)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_se_model():
    """Edge-sized SE network (MobileNetV3-Small style, ~2.2M params), eval mode, 10 classes."""
    import torch

    from edgeattn.models import create_model

    torch.manual_seed(0)
    return create_model("se_mobilenet_small", num_classes=10)


@pytest.fixture(scope="session")
def small_cbam_model():
    """Edge-sized CBAM network (same backbone as ``small_se_model``), eval mode, 10 classes."""
    import torch

    from edgeattn.models import create_model

    torch.manual_seed(0)
    return create_model("cbam_mobilenet_small", num_classes=10)


@pytest.fixture(scope="session")
def tiny_se_model():
    """Smallest SE network (4 basic blocks, widths 16-128, ~0.45M params), eval mode, 10 classes."""
    import torch

    from edgeattn.models import create_model

    torch.manual_seed(0)
    return create_model("se_resnet_tiny", num_classes=10)


@pytest.fixture(scope="session")
def tiny_cbam_model():
    """Smallest CBAM network (same backbone as ``tiny_se_model``), eval mode, 10 classes."""
    import torch

    from edgeattn.models import create_model

    torch.manual_seed(0)
    return create_model("cbam_resnet_tiny", num_classes=10)


@pytest.fixture()
def image_batch():
    """A float32 batch [2, 3, 64, 64] of standard-normal values (seeded)."""
    import torch

    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 64, 64, generator=g)


@pytest.fixture()
def se_state_dict_file(tmp_path: Path) -> Path:
    """A plain state_dict checkpoint (.pth, zip format) of se_resnet18 with 10 classes."""
    import torch

    from edgeattn.models import create_model

    path = tmp_path / "se_resnet18.pth"
    torch.save(create_model("se_resnet18", num_classes=10).state_dict(), path)
    return path
