"""Image preprocessing that reproduces a model's evaluation transform: the pixel work.

The recipe itself (:class:`edgeattn.artifact.Preprocessing`: size, mean/std, interpolation,
crop_pct, channel order) belongs to the artifact contract; this module applies it to an image
(Pillow, imported when an image is processed): resize to ``floor(size / crop_pct)``, center-crop
to ``size``, scale to [0, 1], normalise per channel with ``mean``/``std`` (timm's
``transforms_imagenet_eval``, torchvision's ImageNet recipe). A one-channel model gets a
grayscale (``L``) image.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..artifact import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..errors import InputError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Preprocessing", "apply", "load_image"]


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


def apply(pre: Preprocessing, image: Any) -> np.ndarray:
    """An image -> ``float32 [C, H, W]`` by the recipe ``pre``; for a recipe baked into the artifact
    (``pre.in_graph``), the resized and cropped ``uint8`` pixels in that layout.

    ``image``: a PIL image, encoded bytes (an upload's body), a binary file object, a path, or a
    ``uint8`` array ``[H, W]`` / ``[H, W, C]`` (C = 1, 3 or 4, RGB order, as Pillow and OpenCV
    after ``cv2.cvtColor(..., cv2.COLOR_BGR2RGB)`` give). Anything unreadable is an InputError.
    """
    if not _is_pil_image(image):
        with _opened(image) as opened:
            return apply(pre, opened)
    channels, height, width = pre.input_size
    image = _high_depth_as_float(image)
    if image.mode == "F" and channels in (1, 3):
        pass  # 16-bit grey, rescaled to 0..255 in float: convert() would clip it to 8 bits
    elif channels == 1:
        image = image.convert("L")
    elif channels == 3:
        image = image.convert("RGB")
    else:
        raise InputError(f"image inputs need 1 or 3 channels, the model expects {channels}")
    resample = _pil_resample(pre.interpolation)
    target = pre.resize_size()
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
    if pre.channel_order == "BGR":
        array = array[:, :, ::-1]
    if pre.in_graph is not None:
        # The artifact scales and normalises in its graph: it takes the uint8 pixels themselves.
        pixels = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(pixels if pre.in_graph == "nhwc" else pixels.transpose(2, 0, 1))
    array = array.transpose(2, 0, 1)
    array = array * np.float32(pre.scale)
    mean = np.asarray(pre.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(pre.std, dtype=np.float32).reshape(-1, 1, 1)
    return np.ascontiguousarray((array - mean) / std, dtype=np.float32)


def load_image(pre: Preprocessing, path: str | os.PathLike[str]) -> np.ndarray:
    """Open ``path`` with Pillow and preprocess it by ``pre``; an unreadable file is an :class:`InputError`."""
    return apply(pre, path)


def _is_pil_image(image: Any) -> bool:
    from PIL import Image

    return isinstance(image, Image.Image)


@contextlib.contextmanager
def _opened(image: Any) -> Iterator[Any]:
    """``image`` (bytes, file object, path or uint8 array) as a loaded PIL image."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, np.ndarray):
        yield _from_array(image)
        return
    if isinstance(image, (bytes, bytearray, memoryview)):
        source: Any = io.BytesIO(bytes(image))
        what = f"image ({len(source.getbuffer())} bytes)"
    elif isinstance(image, (str, os.PathLike)):
        source, what = image, f"image {os.fspath(image)}"
    elif hasattr(image, "read"):
        source, what = image, f"image from {getattr(image, 'name', type(image).__name__)}"
    else:
        raise InputError(
            f"received a {type(image).__name__} as an image; expected a PIL image, encoded bytes, a binary "
            "file object, a path or a uint8 [H, W, C] array"
        )
    try:
        with Image.open(source) as opened:
            opened.load()
            yield opened
    except Image.DecompressionBombError as exc:
        limit = Image.MAX_IMAGE_PIXELS or 0  # set: Pillow raises this error only under a limit
        raise InputError(
            f"cannot read {what}: {exc}".split(" could be decompression")[0]
            + f" (more than {limit * 2} pixels); expected an image of a sane size",
            hint="a decompression bomb or a huge scan: resize it first",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read {what}: {exc}", hint="expected an encoded image (PNG, JPEG, ...)") from exc


def _from_array(array: np.ndarray) -> Any:
    """A ``uint8`` ``[H, W]`` or ``[H, W, C]`` array (C = 1, 3, 4) as a PIL image."""
    from PIL import Image

    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InputError(
            f"received an array {array.dtype.name}{list(array.shape)} as an image; expected uint8 [H, W] or "
            "[H, W, C] with C = 1, 3 or 4 (channels last)",
            hint="a float [C, H, W] tensor is already preprocessed: pass it to the runner directly",
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(array))  # uint8: L, RGB or RGBA by the last axis


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
