"""Model zoo, model sources and checkpoint loading.

- ``create_model(name, num_classes=1000, checkpoint=None, **kw)``, ``list_models()``,
  ``register_model``: the registry (ResNet-18/34/50/101 plain, SE, CBAM; small edge nets).
- ``load_model(source, checkpoint=None, ...)``: any model source (registry name, ``timm:NAME``,
  ``torchvision:NAME``, ``file.py:factory``, ``pkg.module:factory``, TorchScript archive).
- ``input_config(model)``, ``model_profile(model, input_size)``.
"""

from __future__ import annotations

from typing import Any

from ._registry import create_model, list_models, model_entry, register_model
from .config import InputConfig, input_config, set_input_config

__all__ = [
    "InputConfig",
    "create_model",
    "input_config",
    "list_models",
    "load_checkpoint",
    "load_model",
    "model_entry",
    "model_profile",
    "register_model",
    "set_input_config",
]


def __getattr__(name: str) -> Any:
    # Sources, checkpoints and profiling pull in optional packages: import on first use.
    if name == "load_model":
        from .sources import load_model

        return load_model
    if name == "load_checkpoint":
        from .checkpoint import load_checkpoint

        return load_checkpoint
    if name == "model_profile":
        from .profile import model_profile

        return model_profile
    raise AttributeError(f"module 'edgeattn.models' has no attribute {name!r}")
