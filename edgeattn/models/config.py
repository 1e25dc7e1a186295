"""Input configuration of a model: what preprocessing its weights expect.

Our zoo models carry it on the module; timm models carry it as ``pretrained_cfg``/``default_cfg``;
torchvision models get it from their weights' transforms when loaded through ``torchvision:NAME``;
anything else falls back to the ImageNet convention (3x224x224, ImageNet mean/std, bilinear
resize, centre crop 0.875, RGB).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# Attribute under which a module carries its InputConfig (set by the zoo and by load_model).
_ATTR = "edgeattn_input_config"


@dataclass(frozen=True)
class InputConfig:
    """Preprocessing a model expects. ``input_size`` is (C, H, W); mean/std apply to [0, 1] pixels."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    channel_order: str = "RGB"
    source: str = field(default="default", compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputConfig:
        return cls(
            input_size=tuple(int(v) for v in data.get("input_size", (3, 224, 224))),  # type: ignore[arg-type]
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
            interpolation=str(data.get("interpolation", "bilinear")),
            crop_pct=float(data.get("crop_pct", 0.875)),
            channel_order=str(data.get("channel_order", "RGB")),
            source=str(data.get("source", "default")),
        )


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
    mean = tuple(cfg.get("mean") or IMAGENET_MEAN)
    std = tuple(cfg.get("std") or IMAGENET_STD)
    return InputConfig(
        input_size=tuple(int(v) for v in size),  # type: ignore[arg-type]
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        interpolation=str(cfg.get("interpolation") or "bilinear"),
        crop_pct=float(cfg.get("crop_pct") or 0.875),
        channel_order="RGB",
        source="timm",
    )


def input_config(model: nn.Module) -> InputConfig:
    """The InputConfig of ``model``: its own, timm's ``pretrained_cfg``, or the ImageNet default."""
    own = getattr(model, _ATTR, None)
    if isinstance(own, InputConfig):
        return own
    for attr in ("pretrained_cfg", "default_cfg"):
        found = _from_timm_cfg(getattr(model, attr, None))
        if found is not None:
            return found
    return InputConfig()
