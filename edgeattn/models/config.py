"""The preprocessing a model's weights expect (:class:`edgeattn.artifact.Preprocessing`).

Models say it the way timm's do, with a ``pretrained_cfg`` (or older ``default_cfg``) mapping:
timm models, our zoo and user models that follow the convention (examples/digits/model.py).
``load_model`` also knows it for ``torchvision:NAME`` (the weights' transforms) and returns it in
:class:`edgeattn.models.LoadedModel`. Anything else gets the ImageNet convention (3x224x224,
ImageNet mean/std, bilinear resize, centre crop 0.875, RGB).
"""

from __future__ import annotations

from typing import Any

from ..artifact import IMAGENET_MEAN, IMAGENET_STD, Preprocessing


def zoo_cfg(in_chans: int = 3) -> dict[str, Any]:
    """The ``pretrained_cfg`` of our zoo models: the ImageNet recipe at 224x224."""
    return {"input_size": (in_chans, 224, 224), "interpolation": "bilinear", "crop_pct": 0.875, "source": "edgeattn"}


def _from_timm_cfg(cfg: Any) -> Preprocessing | None:
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
        source=str(cfg.get("source") or "timm"),
    )


def input_config(model: Any) -> Preprocessing:
    """The recipe of ``model`` (an ``nn.Module`` or a :class:`LoadedModel`): a loaded model's own,
    else the module's ``pretrained_cfg`` / ``default_cfg``, else the ImageNet default."""
    from .sources import LoadedModel

    if isinstance(model, LoadedModel):
        if model.input is not None:
            return model.input
        model = model.module  # no recipe of its own (one built by the caller): the module's
    for attr in ("pretrained_cfg", "default_cfg"):
        found = _from_timm_cfg(getattr(model, attr, None))
        if found is not None:
            return found
    return Preprocessing()
