"""Input configuration of a model: what preprocessing its weights expect.

Our zoo models carry it on the module; timm models carry it as ``pretrained_cfg``/``default_cfg``;
torchvision models get it from their weights' transforms when loaded through ``torchvision:NAME``;
anything else falls back to the ImageNet convention (3x224x224, ImageNet mean/std, bilinear
resize, centre crop 0.875, RGB).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..artifact import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

# The recipe type of the artifact contract: a model's input config is the preprocessing it records.
InputConfig = Preprocessing

# Attribute under which a module carries its InputConfig (set by the zoo and by load_model).
_ATTR = "edgeattn_input_config"


def attach(model: nn.Module, attr: str, value: Any) -> None:
    """Set ``model.<attr> = value`` outside nn.Module's bookkeeping (a no-op for modules that
    refuse new attributes, such as some TorchScript ones)."""
    try:
        object.__setattr__(model, attr, value)
    except (AttributeError, RuntimeError, TypeError):
        pass


def set_input_config(model: nn.Module, config: InputConfig) -> None:
    """Attach ``config`` to ``model`` (a no-op for modules that refuse new attributes)."""
    attach(model, _ATTR, config)


def _from_timm_cfg(cfg: Any) -> InputConfig | None:
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        cfg = getattr(cfg, "__dict__", None)
        if not isinstance(cfg, dict):
            return None
    size = cfg.get("input_size")
    if not size:
        return None
    return Preprocessing(
        input_size=tuple(int(v) for v in size),  # type: ignore[arg-type]
        mean=tuple(float(v) for v in cfg.get("mean") or IMAGENET_MEAN),
        std=tuple(float(v) for v in cfg.get("std") or IMAGENET_STD),
        interpolation=str(cfg.get("interpolation") or "bilinear"),
        crop_pct=float(cfg.get("crop_pct") or 0.875),
        channel_order="RGB",
        source="timm",
    )


def input_config(model: nn.Module) -> InputConfig:
    """The InputConfig of ``model``: its own, timm's ``pretrained_cfg``, or the ImageNet default."""
    own = getattr(model, _ATTR, None)
    if isinstance(own, Preprocessing):
        return own
    for attr in ("pretrained_cfg", "default_cfg"):
        found = _from_timm_cfg(getattr(model, attr, None))
        if found is not None:
            return found
    return Preprocessing()
