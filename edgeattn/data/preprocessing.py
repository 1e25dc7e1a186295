"""Image preprocessing that reproduces a model's evaluation transform.

The default matches timm's ``transforms_imagenet_eval`` (and torchvision's ImageNet recipe):
resize to ``floor(size / crop_pct)`` (the shorter side when the target is square), center-crop
to ``size``, scale to [0, 1], normalise per channel with ``mean``/``std``. ``crop_pct`` = 0.875
is the classic 256 -> 224 recipe (Krizhevsky et al. 2012; He et al. 2016).

``channel_order`` says what order the model expects: ``RGB`` (PyTorch zoo, timm, torchvision) or
``BGR`` (Caffe-era ports). ``mean``/``std`` are given in the model's channel order, i.e. they are
applied after the channels are reordered. A one-channel model gets a grayscale (``L``) image.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError

ChannelOrder = Literal["RGB", "BGR"]

IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


def _pil_resample(name: str) -> int:
    from PIL import Image

    return {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
        "box": Image.Resampling.BOX,
        "hamming": Image.Resampling.HAMMING,
    }[name]


@dataclass(frozen=True)
class Preprocessing:
    """How to turn an image file into one ``float32 [C, H, W]`` model input."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    channel_order: ChannelOrder = "RGB"
    scale: float = 1.0 / 255.0  # applied to the 8-bit pixel values before mean/std
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        size = tuple(int(d) for d in self.input_size)
        if len(size) != 3 or any(d <= 0 for d in size):
            raise InputError(f"preprocessing input_size: received {list(self.input_size)}, expected [C, H, W] > 0")
        object.__setattr__(self, "input_size", size)
        channels = size[0]
        mean = _per_channel("mean", self.mean, channels)
        std = _per_channel("std", self.std, channels)
        if any(s == 0 for s in std):
            raise InputError(f"preprocessing std: received {list(std)}, expected non-zero values")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        interp = str(self.interpolation).lower()
        if interp not in _INTERPOLATIONS:
            raise InputError(
                f"preprocessing interpolation: received {self.interpolation!r}, expected one of {list(_INTERPOLATIONS)}"
            )
        object.__setattr__(self, "interpolation", interp)
        if not (0.0 < float(self.crop_pct) <= 1.0):
            raise InputError(f"preprocessing crop_pct: received {self.crop_pct}, expected a value in (0, 1]")
        order = str(self.channel_order).upper()
        if order not in ("RGB", "BGR"):
            raise InputError(f"preprocessing channel_order: received {self.channel_order!r}, expected 'RGB' or 'BGR'")
        object.__setattr__(self, "channel_order", order)

    # -- construction ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "channel_order": self.channel_order,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], input_size: Sequence[int] | None = None) -> Preprocessing:
        """Build from :meth:`to_dict` output or an ``InputConfig.to_dict()`` (unknown keys ignored)."""
        if not isinstance(data, Mapping):
            raise InputError(f"preprocessing: received {type(data).__name__}, expected a mapping")
        try:
            return cls._from_dict(data, input_size)
        except InputError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            # Values from an artifact's provenance are untrusted: wrong types are an input error.
            raise InputError(
                f"preprocessing: received wrongly typed values ({type(exc).__name__}: {str(exc)[:120]}); expected "
                "input_size [C, H, W] of ints, mean/std numbers, crop_pct/scale numbers, interpolation/channel_order names"
            ) from None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any], input_size: Sequence[int] | None) -> Preprocessing:
        size = input_size if input_size is not None else data.get("input_size", (3, 224, 224))
        size = tuple(int(d) for d in size)
        if len(size) == 4:  # an N,C,H,W input spec
            size = size[1:]
        channels = size[0] if size else 3
        kwargs: dict[str, Any] = {"input_size": size}
        default_mean = IMAGENET_MEAN if channels == 3 else (0.5,) * channels
        default_std = IMAGENET_STD if channels == 3 else (0.5,) * channels
        kwargs["mean"] = tuple(data.get("mean") or default_mean)
        kwargs["std"] = tuple(data.get("std") or default_std)
        for key in ("interpolation", "crop_pct", "channel_order", "scale"):
            if data.get(key) is not None:
                kwargs[key] = data[key]
        return cls(**kwargs)

    @classmethod
    def from_model(cls, model: Any, input_size: Sequence[int] | None = None) -> Preprocessing:
        """From ``edgeattn.models.input_config(model)`` (the model's pretrained config)."""
        from ..models import input_config  # part A; imported lazily (torch)

        return cls.from_dict(input_config(model).to_dict(), input_size=input_size)

    @classmethod
    def from_onnx(cls, model: str | os.PathLike[str] | Any, input_size: Sequence[int] | None = None) -> Preprocessing | None:
        """From the ``edgeattn.provenance`` metadata of an exported ONNX model; ``None`` when absent."""
        provenance = read_provenance(model)
        if not provenance:
            return None
        pre = provenance.get("preprocessing")
        if not isinstance(pre, Mapping):
            return None
        if input_size is None:
            input_size = pre.get("input_size") or _input_size_from_spec(provenance.get("input_spec") or provenance.get("input"))
        return cls.from_dict(pre, input_size=input_size)

    # -- application -------------------------------------------------------------------------
    def resize_size(self) -> int | tuple[int, int]:
        """The pre-crop resize: an int = shorter side (square target), a pair = exact (H, W)."""
        _, height, width = self.input_size
        scaled = (math.floor(height / self.crop_pct), math.floor(width / self.crop_pct))
        return scaled[0] if scaled[0] == scaled[1] else scaled

    def __call__(self, image: Any) -> np.ndarray:
        """A PIL image -> ``float32 [C, H, W]``."""

        channels, height, width = self.input_size
        image = _high_depth_as_float(image)
        if image.mode == "F" and channels in (1, 3):
            pass  # 16-bit grey, rescaled to 0..255 in float: convert() would clip it to 8 bits
        elif channels == 1:
            image = image.convert("L")
        elif channels == 3:
            image = image.convert("RGB")
        else:
            raise InputError(f"image inputs need 1 or 3 channels, the model expects {channels}")
        resample = _pil_resample(self.interpolation)
        target = self.resize_size()
        if isinstance(target, int):
            w, h = image.size
            if w <= h:
                new_w, new_h = target, max(1, int(target * h / w))
            else:
                new_w, new_h = max(1, int(target * w / h)), target
        else:
            new_h, new_w = target
        if (new_w, new_h) != image.size:
            image = image.resize((new_w, new_h), resample=resample)
        # Center crop, rounding like torchvision's CenterCrop.
        w, h = image.size
        if w < width or h < height:
            image = image.resize((max(w, width), max(h, height)), resample=resample)
            w, h = image.size
        top = int(round((h - height) / 2.0))
        left = int(round((w - width) / 2.0))
        image = image.crop((left, top, left + width, top + height))
        array = np.asarray(image, dtype=np.float32)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.shape[2] == 1 and channels == 3:
            array = np.repeat(array, 3, axis=2)
        array = array.transpose(2, 0, 1)
        if self.channel_order == "BGR":
            array = array[::-1]
        array = array * np.float32(self.scale)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return np.ascontiguousarray((array - mean) / std, dtype=np.float32)

    def load_image(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Open ``path`` with Pillow and preprocess it; an unreadable file is an :class:`InputError`."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                image.load()
                return self(image)
        except Image.DecompressionBombError as exc:
            raise InputError(
                f"cannot read image {os.fspath(path)}: {exc}".split(" could be decompression")[0]
                + f" (more than {Image.MAX_IMAGE_PIXELS * 2} pixels); expected an image of a sane size",
                hint="a decompression bomb or a huge scan: resize it first",
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"cannot read image {os.fspath(path)}: {exc}", hint="remove or replace the file") from exc


_HIGH_DEPTH_MAX = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0}


def _high_depth_as_float(image: Any) -> Any:
    """A 16-bit (or 32-bit integer) grey image as mode ``F`` scaled to 0..255, so the usual
    ``scale=1/255`` maps its full range to 0..1 (PNG stores 16-bit samples as 0..65535)."""
    if image.mode not in _HIGH_DEPTH_MAX and image.mode != "I":
        return image
    from PIL import Image

    array = np.asarray(image, dtype=np.float64)
    # Mode I holds 16-bit PNG samples in older Pillow; wider integers only when the values say so.
    top = _HIGH_DEPTH_MAX.get(image.mode) or (65535.0 if array.size == 0 or array.max() <= 65535 else 4294967295.0)
    return Image.fromarray((array * (255.0 / top)).astype(np.float32), mode="F")


def _per_channel(name: str, values: Any, channels: int) -> tuple[float, ...]:
    if isinstance(values, (int, float)):
        values = (float(values),)
    values = tuple(float(v) for v in values)
    if len(values) == 1 and channels > 1:
        values = values * channels
    if len(values) != channels:
        if channels == 1 and len(values) == 3:
            # A grayscale model given RGB statistics: use their average rather than failing.
            return (sum(values) / 3.0,)
        raise InputError(f"preprocessing {name}: received {len(values)} values, expected {channels} (one per channel)")
    return values


def _input_size_from_spec(spec: Any) -> tuple[int, int, int] | None:
    if isinstance(spec, Mapping):
        spec = spec.get("shape") or spec.get("input_shape")
    if isinstance(spec, list) and spec and isinstance(spec[0], Mapping):
        spec = spec[0].get("shape")
    if isinstance(spec, (list, tuple)) and len(spec) in (3, 4):
        dims = list(spec)[-3:]
        if all(isinstance(d, int) and d > 0 for d in dims):
            return (dims[0], dims[1], dims[2])
    return None


def read_metadata(model: str | os.PathLike[str] | Any) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model (path or ModelProto); the JSON sidecar as fallback.

    An ``.onnx`` file that does not parse is an :class:`InputError`.
    """
    props: dict[str, str] = {}
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.suffix.lower() == ".onnx" and path.exists():
            import onnx

            try:
                proto = onnx.load(os.fspath(path), load_external_data=False)
            except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
                raise InputError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None
            props = _text_props(proto, os.fspath(path))
        sidecar = path.with_name(path.name + ".json")
        if not props and sidecar.exists():
            try:
                data = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, too deep
                data = {}
            for key, value in data.items() if isinstance(data, dict) else []:
                full = key if key.startswith("edgeattn.") else f"edgeattn.{key}"
                props[full] = value if isinstance(value, str) else json.dumps(value)
    else:
        props = _text_props(model, "the ONNX model")
    return props


def _text_props(model: Any, name: str) -> dict[str, str]:
    """``metadata_props`` as text. Protobuf hands back bytes (not str) for a value that is not
    valid UTF-8: refuse it here in one line rather than fail later when it is written back."""
    props: dict[str, str] = {}
    for prop in getattr(model, "metadata_props", []):
        key, value = prop.key, prop.value
        if not isinstance(key, str) or not isinstance(value, str):
            shown = key if isinstance(key, str) else repr(key)[:60]
            raise InputError(f"{name}: metadata entry {shown} is not UTF-8 text; expected UTF-8 strings (a damaged or crafted file)")
        props[key] = value
    return props


def read_json_metadata(model: str | os.PathLike[str] | Any, key: str) -> Any:
    """One JSON-valued metadata entry (``edgeattn.blocks`` ...), ``None`` when absent or invalid."""
    return json_metadata_value(read_metadata(model), key)


def json_metadata_value(props: Mapping[str, str], key: str) -> Any:
    """``props[key]`` decoded as JSON (``props`` as :func:`read_metadata` returns), ``None`` when absent or invalid."""
    raw = props.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return None


def read_provenance(model: str | os.PathLike[str] | Any) -> dict[str, Any] | None:
    value = read_json_metadata(model, "edgeattn.provenance")
    return value if isinstance(value, dict) else None
