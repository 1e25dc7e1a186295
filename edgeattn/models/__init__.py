"""Model zoo, model sources and checkpoint loading.

- ``create_model(name, num_classes=1000, checkpoint=None, **kw)``, ``list_models()``,
  ``register_model``: the registry (ResNet-18/34/50/101 plain, SE, CBAM; small edge nets).
- ``load_model(source, checkpoint=None, ...)``: any model source (registry name, ``timm:NAME``,
  ``torchvision:NAME``, ``file.py:factory``, ``pkg.module:factory``, TorchScript archive), as a
  ``LoadedModel(module, source, input, checkpoint_report)``.
- ``load_checkpoint(model, path)``: safe checkpoint loading into a module.
- ``input_config(model)``, ``model_profile(model, input_size)``.

Everything is imported on first use so that ``edgeattn models`` can answer from its cache
without importing torch.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

_API = {
    "create_model": "._registry",
    "list_models": "._registry",
    "model_entry": "._registry",
    "register_model": "._registry",
    "input_config": ".config",
    "LoadedModel": ".sources",
    "load_model": ".sources",
    "load_checkpoint": ".checkpoint",
    "LoadReport": ".checkpoint",
    "model_profile": ".profile",
    "find_attention_blocks": ".attention_scan",
}

__all__ = sorted(_API)
__getattr__, __dir__ = lazy_attributes(__name__, _API)
