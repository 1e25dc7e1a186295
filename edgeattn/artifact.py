"""The artifact contract: what edgeattn records in an artifact, and the one reader and writer of it.

An artifact is an ONNX model written by ``edgeattn export`` / ``edgeattn quantize`` or a TensorRT
engine written by ``edgeattn build``. Everything the later stages need to know about it -- the
image input, its preprocessing, the precision, where the model came from, the folded attention
blocks and the stage probes -- is one record, kept in three places with the same content:

- ONNX ``metadata_props``: :data:`PROVENANCE`, :data:`BLOCKS`, :data:`PROBES`,
  :data:`QUANTIZATION` (JSON values) and :data:`PRECISION` (a plain string: ``fp32``, ``fp16``
  or ``int8``);
- the ONNX sidecar ``<model>.onnx.json``: the same record under the key names without the
  ``edgeattn.`` prefix, so tools that strip ``metadata_props`` lose nothing;
- the engine sidecar ``<engine>.json`` (format :data:`ENGINE_SIDECAR_FORMAT`): the same record
  plus what the engine is tied to (``edgeattn.tensorrt.sidecar``); ``precision`` is the same
  plain string, the build's precision decisions are under ``precision_plan``.

The sidecar path rule is :func:`edgeattn._io.sidecar_path`. Quantize, build, validate, bench,
the runners and ``Preprocessing.from_onnx`` read an artifact through :meth:`ArtifactInfo.read`
and nothing else, with one precedence order:

1. Record: ONNX ``metadata_props`` when they hold any ``edgeattn.`` entry, else the
   ``.onnx.json`` sidecar; an engine's sidecar.
2. Input size (C, H, W): the artifact's own fixed input dims (the ONNX graph input, the engine's
   I/O in its sidecar) > the provenance ``input.shape`` > the provenance
   ``preprocessing.input_size``.
3. Batch: a fixed leading input dim is the batch; a dynamic one goes up to the provenance
   ``input.max_batch`` (ONNX) or the smallest profile maximum (engine).
4. Preprocessing: the provenance recipe, its ``input_size`` replaced by the input size of 2.
5. Precision: the recorded one, ``None`` when nothing is recorded (callers then look at the graph).

Torch-free: imports stdlib and numpy; ``onnx`` lazily, when an ONNX file is read.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np

from ._io import sha256_file, sidecar_path
from .errors import InputError
from .graph.vocabulary import PRECISIONS

# -- metadata keys --------------------------------------------------------------------------------
PREFIX = "edgeattn."
PROVENANCE = PREFIX + "provenance"
BLOCKS = PREFIX + "blocks"
PROBES = PREFIX + "probes"
PRECISION = PREFIX + "precision"
QUANTIZATION = PREFIX + "quantization"
JSON_KEYS = (PROVENANCE, BLOCKS, PROBES, QUANTIZATION)
ENGINE_SIDECAR_FORMAT = "edgeattn.tensorrt-engine/2"
# /1 recorded precision as a dict (see _upgrade_engine_sidecar); it still reads.
ENGINE_SIDECAR_FORMATS = ("edgeattn.tensorrt-engine/1", ENGINE_SIDECAR_FORMAT)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")

# ImageNet statistics of torchvision's and timm's eval transforms (RGB, applied to [0, 1] pixels).
IMAGENET_MEAN: Tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: Tuple[float, ...] = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
LAYOUTS = ("nchw", "nhwc")  # of a uint8 image input when the preprocessing is in the graph


def short_key(key: str) -> str:
    """``edgeattn.provenance`` -> ``provenance`` (the sidecar's key for a metadata key)."""
    return key[len(PREFIX):] if key.startswith(PREFIX) else key


# -- preprocessing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes one ``float32 [C, H, W]`` model input: timm's ``transforms_imagenet_eval``
    (and torchvision's ImageNet recipe): resize to ``floor(size / crop_pct)`` (the shorter side when
    the target is square), center-crop to ``size``, scale to [0, 1], normalise per channel.

    ``crop_pct`` = 0.875 is the classic 256 -> 224 recipe (Krizhevsky et al. 2012; He et al. 2016).
    ``channel_order`` is what the model expects (``RGB``: PyTorch zoo, timm, torchvision; ``BGR``:
    Caffe-era ports); ``mean``/``std`` are given in that order. ``source`` says where the recipe
    came from (``default``, ``edgeattn``, ``timm``, ``torchvision``, ``model``). The pixel work is
    in :mod:`edgeattn.data.preprocessing` (Pillow, imported when an image is processed).
    """

    input_size: Tuple[int, int, int] = (3, 224, 224)
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    channel_order: str = "RGB"
    scale: float = 1.0 / 255.0  # applied to the 8-bit pixel values before mean/std
    source: str = field(default="default", compare=False)
    # ``nchw`` / ``nhwc``: the artifact does the scaling and normalisation itself and takes uint8
    # pixels in that layout (``export --bake-preprocessing``); the recipe then only resizes and crops.
    in_graph: Optional[str] = None

    def __post_init__(self) -> None:
        size = tuple(int(d) for d in self.input_size)
        if len(size) != 3 or any(d <= 0 for d in size):
            raise InputError(f"preprocessing input_size: received {list(self.input_size)}, expected [C, H, W] > 0")
        object.__setattr__(self, "input_size", size)
        mean = _per_channel("mean", self.mean, size[0])
        std = _per_channel("std", self.std, size[0])
        if any(s == 0 for s in std):
            raise InputError(f"preprocessing std: received {list(std)}, expected non-zero values")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        interp = str(self.interpolation).lower()
        if interp not in INTERPOLATIONS:
            raise InputError(
                f"preprocessing interpolation: received {self.interpolation!r}, expected one of {list(INTERPOLATIONS)}"
            )
        object.__setattr__(self, "interpolation", interp)
        if not (0.0 < float(self.crop_pct) <= 1.0):
            raise InputError(f"preprocessing crop_pct: received {self.crop_pct}, expected a value in (0, 1]")
        order = str(self.channel_order).upper()
        if order not in ("RGB", "BGR"):
            raise InputError(f"preprocessing channel_order: received {self.channel_order!r}, expected 'RGB' or 'BGR'")
        object.__setattr__(self, "channel_order", order)
        object.__setattr__(self, "source", str(self.source))
        if self.in_graph is not None:
            layout = str(self.in_graph).lower()
            if layout not in LAYOUTS:
                raise InputError(f"preprocessing in_graph: received {self.in_graph!r}, expected one of {list(LAYOUTS)} or none")
            object.__setattr__(self, "in_graph", layout)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "channel_order": self.channel_order,
            "scale": self.scale,
            "source": self.source,
            **({"in_graph": self.in_graph} if self.in_graph else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], input_size: Sequence[int] | None = None) -> Preprocessing:
        """From :meth:`to_dict` output (unknown keys ignored); ``input_size`` replaces the recorded one."""
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
        size = tuple(int(d) for d in (input_size if input_size is not None else data.get("input_size") or (3, 224, 224)))
        if len(size) == 4:  # an N,C,H,W shape
            size = size[1:]
        channels = size[0] if size else 3
        kwargs: dict[str, Any] = {"input_size": size}
        kwargs["mean"] = tuple(data.get("mean") or (IMAGENET_MEAN if channels == 3 else (0.5,) * channels))
        kwargs["std"] = tuple(data.get("std") or (IMAGENET_STD if channels == 3 else (0.5,) * channels))
        for key in ("interpolation", "crop_pct", "channel_order", "scale", "source", "in_graph"):
            if data.get(key) is not None:
                kwargs[key] = data[key]
        return cls(**kwargs)

    @classmethod
    def from_model(cls, model: Any, input_size: Sequence[int] | None = None) -> Preprocessing:
        """The recipe a PyTorch model's weights expect (``edgeattn.models.input_config``)."""
        from .models.config import input_config  # torch: imported only when asked

        config = input_config(model)
        return config if input_size is None else config.with_input_size(input_size)

    @classmethod
    def from_onnx(cls, model: str | os.PathLike[str] | Any, input_size: Sequence[int] | None = None) -> Preprocessing | None:
        """The recipe recorded in an artifact (path or ``onnx.ModelProto``); ``None`` when none is."""
        pre = ArtifactInfo.read(model).preprocessing
        if pre is None or input_size is None:
            return pre
        return pre.with_input_size(input_size)

    def with_input_size(self, input_size: Sequence[int]) -> Preprocessing:
        """The same recipe for another ``[C, H, W]`` (or ``[N, C, H, W]``) input."""
        size = tuple(int(d) for d in input_size)
        return Preprocessing.from_dict(self.to_dict(), input_size=size)

    def pixel_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(multiplier, offset)``, float32 ``[1, C, 1, 1]``: the model input is
        ``pixels * multiplier + offset`` (``(p * scale - mean) / std``, per channel)."""
        std = np.asarray(self.std, dtype=np.float64)
        mean = np.asarray(self.mean, dtype=np.float64)
        multiplier = (self.scale / std).reshape(1, -1, 1, 1).astype(np.float32)
        offset = (-mean / std).reshape(1, -1, 1, 1).astype(np.float32)
        return multiplier, offset

    def resize_size(self) -> int | tuple[int, int]:
        """The pre-crop resize: an int = shorter side (square target), a pair = exact (H, W)."""
        _, height, width = self.input_size
        scaled = (math.floor(height / self.crop_pct), math.floor(width / self.crop_pct))
        return scaled[0] if scaled[0] == scaled[1] else scaled

    def __call__(self, image: Any) -> np.ndarray:
        """An image -> ``float32 [C, H, W]`` (or, for a recipe baked into the graph, ``uint8`` pixels in
        :attr:`in_graph`'s layout); see :func:`edgeattn.data.preprocessing.apply`."""
        from .data.preprocessing import apply

        return apply(self, image)

    def load_image(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Open ``path`` with Pillow and preprocess it; an unreadable file is an :class:`InputError`."""
        from .data.preprocessing import load_image

        return load_image(self, path)


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


# -- tensors and the image input ------------------------------------------------------------------
@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output: name, numpy dtype, full shape (``-1`` = dynamic axis)."""

    name: str
    dtype: np.dtype
    shape: Tuple[int, ...]


@dataclass(frozen=True)
class InputSpec:
    """The image input: its name, ``C x H x W`` and batch range.

    ``batch`` is the batch of the exported example shape (the fixed batch when ``dynamic_batch``
    is false); ``max_batch`` the largest batch accepted (``None``: dynamic, no maximum recorded).
    """

    name: str
    channels: int
    height: int
    width: int
    dynamic_batch: bool = True
    max_batch: Optional[int] = None
    batch: int = 1
    dtype: str = "float32"

    @property
    def size(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def shape(self) -> list[int]:
        """``[N, C, H, W]`` of the exported example."""
        return [self.batch, *self.size]

    @property
    def fixed_batch(self) -> int | None:
        return None if self.dynamic_batch else self.batch

    def to_record(self) -> dict[str, Any]:
        """The provenance ``input`` entry."""
        return {
            "names": [self.name],
            "shape": self.shape,
            "dynamic_batch": self.dynamic_batch,
            "max_batch": self.max_batch if self.dynamic_batch else self.batch,
            "dtype": self.dtype,
        }


def refuse_baked(info: ArtifactInfo, path: Any, command: str) -> None:
    """``command`` does not handle an artifact whose preprocessing is in the graph (uint8 input) yet."""
    pre = info.preprocessing
    if pre is not None and pre.in_graph:
        raise InputError(
            f"{os.fspath(path)} takes uint8 pixels (exported with --bake-preprocessing); {command} expects the "
            "float-input export",
            hint=f"{command} the model exported without --bake-preprocessing",
        )


# -- provenance (written by export) ---------------------------------------------------------------
def file_record(path: Path, artifact: Path | None = None) -> dict[str, Any]:
    """``{"path": absolute path, "sha256": digest or None when it is not a file, "relative": the
    path from the artifact's folder}``: the file is found again where it was, or beside the
    artifact when both moved together (:func:`recorded_file`)."""
    record: dict[str, Any] = {"path": os.fspath(path.resolve()), "sha256": sha256_file(path) if path.is_file() else None}
    if artifact is not None:
        try:
            record["relative"] = os.path.relpath(path.resolve(), Path(artifact).resolve().parent)
        except ValueError:  # another drive (Windows): only the absolute path is recorded
            record["relative"] = None
    return record


def recorded_file(record: Any, artifact: str | os.PathLike[str]) -> tuple[Path | None, bool]:
    """Where a :func:`file_record` (read from an untrusted artifact) points now, and whether the
    file there is the recorded one (same sha256).

    Candidates in order: the recorded absolute path, then the recorded relative path from the
    artifact's folder (the artifact and the file moved together). The first candidate whose
    content is the recorded one wins; else the first that exists (``False``: it changed since);
    ``(None, False)`` when none exists.
    """
    if not isinstance(record, Mapping):
        return None, False
    candidates = []
    if isinstance(record.get("path"), str) and record["path"]:
        candidates.append(Path(record["path"]))
    if isinstance(record.get("relative"), str) and record["relative"]:
        # normpath, not resolve(): no file system calls on a path an artifact made up
        candidates.append(Path(os.path.normpath(Path(artifact).resolve().parent / record["relative"])))
    existing = [c for c in candidates if is_file(c)]
    sha = record.get("sha256")
    for candidate in existing:
        if isinstance(sha, str) and sha and sha256_file(candidate) == sha:
            return candidate, True
    return (existing[0], False) if existing else (None, False)


def is_file(path: Path) -> bool:
    """``Path.is_file`` for a path read from an untrusted artifact: a name too long for the file
    system or one holding a NUL byte is simply not a file here (pathlib raises for those)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def provenance_record(
    *,
    source: str | None,
    checkpoint: str | os.PathLike[str] | None,
    input: InputSpec,
    output_names: Sequence[str],
    preprocessing: Preprocessing | None,
    exporter: str,
    opset: int,
    fold: str,
    optimize_for: str,
    artifact: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The ``provenance`` record: version, source model (+ its file) and checkpoint hashed, the input,
    outputs, preprocessing (sized to the exported input, so the two never disagree), exporter.
    ``artifact`` (the file being written) makes the file records relative to it as well."""
    from . import __version__
    from .models.source_spec import parse_source

    parsed = parse_source(source) if source else None
    source_path = parsed.path if parsed is not None else None
    source_modules = None
    if parsed is not None and parsed.kind == "file_factory" and source_path is not None:
        from .models.file_imports import folder_modules

        # What the source imported from its own folder: pinned too when validate runs it again.
        source_modules = folder_modules(source_path.resolve().parent, exclude=source_path)
    where = Path(artifact) if artifact is not None else None
    try:
        recipe = preprocessing.with_input_size(input.size).to_dict() if preprocessing is not None else None
    except InputError:  # a recipe for another channel count: better none than a wrong one
        recipe = None
    return {
        "edgeattn_version": __version__,
        "source": source,
        # The file a file.py:factory or saved-model source reads, hashed: validate --trust-provenance
        # runs it again only while it is byte-for-byte the file that was exported.
        "source_file": file_record(source_path, where) if source_path is not None else None,
        "source_modules": source_modules,
        "checkpoint": file_record(Path(checkpoint), where) if checkpoint is not None else None,
        "input": input.to_record(),
        "outputs": list(output_names),
        "preprocessing": recipe,
        "exporter": exporter,
        "opset": opset,
        "fold": fold,
        "optimize_for": optimize_for,  # which function bodies (fold.functions.OPTIMIZE_FOR)
    }


# -- the artifact ---------------------------------------------------------------------------------
@dataclass
class ArtifactInfo:
    """What an artifact records about itself, and what its graph or engine I/O says.

    The first five fields are the record (what :meth:`metadata` / :meth:`sidecar` write); the
    others are read from the artifact by :meth:`read`.
    """

    provenance: Optional[dict] = None
    blocks: list = field(default_factory=list)
    probes: list = field(default_factory=list)
    precision: Optional[str] = None  # recorded precision; None when nothing is recorded
    quantization: Optional[dict] = None
    path: Optional[Path] = None
    kind: str = "onnx"  # "onnx" or "engine"
    inputs: Tuple[TensorInfo, ...] = ()
    outputs: Tuple[TensorInfo, ...] = ()
    input: Optional[InputSpec] = None
    precision_plan: Optional[dict] = None  # engines: ONNX precision, typing path, tf32 (edgeattn build)

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def read(cls, artifact: str | os.PathLike[str] | Any) -> ArtifactInfo:
        """Read an ``.onnx`` file (metadata, else its sidecar), an engine (its sidecar) or an
        ``onnx.ModelProto``. A missing record leaves the fields empty; an unreadable ONNX file, a
        sidecar that is not JSON or not ours is an :class:`InputError`."""
        if not isinstance(artifact, (str, os.PathLike)):
            return cls.from_proto(artifact)
        path = Path(artifact)
        if path.suffix.lower() == ".onnx":
            if path.is_file():
                return cls.from_proto(_load_onnx(path), path)
            return cls.from_record(_read_json(sidecar_path(path)) or {}, path=path)
        data = read_engine_sidecar(path)
        return cls.from_engine_sidecar(data, path) if data is not None else cls(path=path, kind="engine")

    @classmethod
    def from_proto(cls, proto: Any, path: Path | None = None) -> ArtifactInfo:
        """From an ``onnx.ModelProto``: its metadata (or the sidecar beside ``path``) and graph I/O."""
        props = metadata_props(proto, os.fspath(path) if path is not None else "the ONNX model")
        if not any(key.startswith(PREFIX) for key in props) and path is not None:
            info = cls.from_record(_read_json(sidecar_path(path)) or {}, path=path)
        else:
            info = cls.from_metadata(props, path=path)
        initializers = {init.name for init in proto.graph.initializer}
        info.inputs = tuple(_onnx_tensor(v) for v in proto.graph.input if v.name not in initializers)
        info.outputs = tuple(_onnx_tensor(v) for v in proto.graph.output)
        return info._resolve()

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], *, path: Path | None = None) -> ArtifactInfo:
        """From ONNX ``metadata_props`` as a mapping (e.g. an ORT session's ``custom_metadata_map``)."""
        record: dict[str, Any] = {short_key(key): json_value(props, key) for key in JSON_KEYS}
        record["precision"] = props.get(PRECISION)
        return cls.from_record(record, path=path)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, path: Path | None = None, kind: str = "onnx") -> ArtifactInfo:
        """From the sidecar form of the record (keys without the prefix)."""
        provenance = record.get("provenance")
        blocks, probes = record.get("blocks"), record.get("probes")
        quantization = record.get("quantization")
        info = cls(
            provenance=dict(provenance) if isinstance(provenance, Mapping) else None,
            blocks=list(blocks) if isinstance(blocks, list) else [],
            probes=list(probes) if isinstance(probes, list) else [],
            precision=_precision(record.get("precision")),
            quantization=dict(quantization) if isinstance(quantization, Mapping) else None,
            path=path,
            kind=kind,
        )
        return info._resolve()

    @classmethod
    def from_engine_sidecar(cls, data: Mapping[str, Any], path: Path | None = None) -> ArtifactInfo:
        """From an engine sidecar (:func:`read_engine_sidecar`'s dict)."""
        info = cls.from_record(data, path=path, kind="engine")
        plan = data.get("precision_plan")
        info.precision_plan = dict(plan) if isinstance(plan, Mapping) else None
        try:
            io = [t for t in data.get("io") or [] if isinstance(t, Mapping)]
            info.inputs = tuple(_engine_tensor(t) for t in io if t.get("mode") == "input")
            info.outputs = tuple(_engine_tensor(t) for t in io if t.get("mode") == "output")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"engine sidecar of {path}: unreadable io entry ({exc})", hint="rebuild the engine") from None
        info._resolve()
        if info.input is not None and info.input.dynamic_batch:
            # The batch an engine takes is its optimization profile's range, whatever the export said.
            limits = []
            for p in data.get("profiles") or []:
                if isinstance(p, Mapping) and p.get("name") in {t.name for t in info.inputs}:
                    try:
                        limits.append(int(p["max"][0]))
                    except (KeyError, TypeError, ValueError, IndexError):
                        continue
            info.input = replace(info.input, max_batch=min(limits) if limits else None)
            # Outputs of a dynamic-batch engine carry -1 on axis 0 as well.
            info.outputs = tuple(replace(t, shape=(-1, *t.shape[1:])) if t.shape else t for t in info.outputs)
        return info

    def _resolve(self) -> ArtifactInfo:
        """Derive :attr:`input` in the precedence order of the module docstring."""
        prov = self.provenance or {}
        raw_input = prov.get("input")
        recorded: Mapping[str, Any] = raw_input if isinstance(raw_input, Mapping) else {}
        pre_record = self._preprocessing_record()
        first = self.inputs[0] if self.inputs else None
        names = recorded.get("names") if isinstance(recorded.get("names"), list) else []
        name = first.name if first is not None else (str(names[0]) if names else None)
        graph_dims = list(first.shape) if first is not None else []
        if len(graph_dims) == 4 and pre_record is not None and str(pre_record.get("in_graph") or "").lower() == "nhwc":
            graph_dims = [graph_dims[0], graph_dims[3], graph_dims[1], graph_dims[2]]  # N, H, W, C -> N, C, H, W
        size = _fixed_dims(graph_dims[1:]) if len(graph_dims) == 4 else None
        recorded_shape = recorded.get("shape")
        size = size or (_fixed_dims(list(recorded_shape)[-3:]) if isinstance(recorded_shape, list) and len(recorded_shape) == 4 else None)
        if size is None and pre_record is not None and isinstance(pre_record.get("input_size"), list):
            size = _fixed_dims(pre_record["input_size"])
        if name is not None and size is not None:
            if graph_dims:
                dynamic = not (isinstance(graph_dims[0], int) and graph_dims[0] > 0)
            else:
                dynamic = bool(recorded.get("dynamic_batch", True))
            recorded_batch = _positive(recorded_shape[0]) if isinstance(recorded_shape, list) and recorded_shape else None
            if dynamic:
                batch, max_batch = recorded_batch or 1, _positive(recorded.get("max_batch"))
            else:
                batch = int(graph_dims[0]) if graph_dims else (recorded_batch or 1)
                max_batch = batch
            dtype = str(first.dtype) if first is not None else str(recorded.get("dtype") or "float32")
            self.input = InputSpec(name, *size, dynamic_batch=dynamic, max_batch=max_batch, batch=batch, dtype=dtype)
        return self

    def _preprocessing_record(self) -> Mapping[str, Any] | None:
        pre = (self.provenance or {}).get("preprocessing")
        return pre if isinstance(pre, Mapping) else None

    # -- what consumers ask ---------------------------------------------------------------------
    @property
    def preprocessing(self) -> Preprocessing | None:
        """The recorded recipe sized to :attr:`input` (``None`` when none is recorded); a recipe with
        wrongly typed values is an :class:`InputError` when asked for, not when the artifact is read."""
        record = self._preprocessing_record()
        if record is None:
            return None
        return Preprocessing.from_dict(record, input_size=self.input_size)

    @property
    def recorded(self) -> bool:
        """Whether edgeattn wrote this artifact's record (a provenance is there)."""
        return self.provenance is not None

    @property
    def input_size(self) -> tuple[int, int, int] | None:
        return self.input.size if self.input is not None else None

    @property
    def dynamic_batch(self) -> bool:
        return self.input is not None and self.input.dynamic_batch

    @property
    def max_batch(self) -> int:
        """The largest batch accepted (the fixed batch when not dynamic); 0 when unknown."""
        return (self.input.max_batch or 0) if self.input is not None else 0

    @property
    def tf32(self) -> bool:
        """An FP32 engine built with TF32 tensor cores allowed (``edgeattn build --tf32``)."""
        return bool((self.precision_plan or {}).get("tf32"))

    # -- writing --------------------------------------------------------------------------------
    def sidecar(self) -> dict[str, Any]:
        """The record as the sidecars hold it (keys without the prefix; no precision when fp32/unknown)."""
        out: dict[str, Any] = {"provenance": self.provenance, "blocks": list(self.blocks), "probes": list(self.probes)}
        if self.precision is not None:
            out["precision"] = self.precision
        if self.quantization is not None:
            out["quantization"] = self.quantization
        return out

    def metadata(self) -> dict[str, str]:
        """The record as ONNX ``metadata_props`` entries (JSON values, the precision as text)."""
        return {
            (PREFIX + key): (value if key == "precision" else json.dumps(value, default=str))
            for key, value in self.sidecar().items()
            if value is not None
        }

    def write_metadata(self, proto: Any) -> None:
        """Replace every ``edgeattn.`` entry of ``proto.metadata_props`` with this record."""
        entries = self.metadata()
        keep = [p for p in proto.metadata_props if not p.key.startswith(PREFIX)]
        del proto.metadata_props[:]
        proto.metadata_props.extend(keep)
        for key, value in entries.items():
            prop = proto.metadata_props.add()
            prop.key, prop.value = key, value

    def to_dict(self) -> dict[str, Any]:
        def tensor(t: TensorInfo) -> dict[str, Any]:
            return {"name": t.name, "dtype": np.dtype(t.dtype).name, "shape": list(t.shape)}

        return {
            "path": os.fspath(self.path) if self.path is not None else None,
            "kind": self.kind,
            "inputs": [tensor(t) for t in self.inputs],
            "outputs": [tensor(t) for t in self.outputs],
            "dynamic_batch": self.dynamic_batch,
            "max_batch": self.max_batch,
            "precision": self.precision or "fp32",
            "preprocessing": self.preprocessing.to_dict() if self.preprocessing is not None else None,
        }


def _fixed_dims(dims: Sequence[Any]) -> tuple[int, int, int] | None:
    if len(dims) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        return None
    return (int(dims[0]), int(dims[1]), int(dims[2]))


def _positive(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _precision(value: Any) -> str | None:
    text = str(value).strip().lower() if isinstance(value, str) else ""
    return text if text in PRECISIONS else None


# -- ONNX -----------------------------------------------------------------------------------------
def _load_onnx(path: Path) -> Any:
    import onnx

    try:
        return onnx.load(os.fspath(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise InputError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None


def metadata_props(proto: Any, name: str = "the ONNX model") -> dict[str, str]:
    """``metadata_props`` as text. Protobuf hands back bytes (not str) for a value that is not
    valid UTF-8: refuse it here in one line rather than fail later when it is written back."""
    props: dict[str, str] = {}
    for prop in getattr(proto, "metadata_props", []):
        key, value = prop.key, prop.value
        if not isinstance(key, str) or not isinstance(value, str):
            shown = key if isinstance(key, str) else repr(key)[:60]
            raise InputError(f"{name}: metadata entry {shown} is not UTF-8 text; expected UTF-8 strings (a damaged or crafted file)")
        props[key] = value
    return props


def json_value(props: Mapping[str, str], key: str) -> Any:
    """``props[key]`` decoded as JSON, ``None`` when absent or not JSON (artifacts are untrusted)."""
    raw = props.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return None


def _onnx_tensor(value: Any) -> TensorInfo:
    import onnx

    tensor_type = value.type.tensor_type
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    except Exception:  # noqa: BLE001 - an element type numpy has no name for (bfloat16 without ml_dtypes)
        dtype = np.dtype(object)
    return TensorInfo(value.name, dtype, dims)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file; ``None`` when absent, unreadable or not an object (the ONNX sidecar is
    a convenience copy: the model's own metadata is the record)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, too deep
        return None
    return data if isinstance(data, dict) else None


# -- engines --------------------------------------------------------------------------------------
def read_engine_sidecar(engine: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The sidecar of an engine, upgraded to the current format; ``None`` when there is none.

    Unlike the ONNX sidecar it is the engine's only record, so one that does not parse or is not
    ours is an :class:`InputError`.
    """
    path = sidecar_path(engine)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"engine sidecar {path} is not valid JSON ({exc})", hint="rebuild the engine") from None
    if not isinstance(data, dict) or data.get("format") not in ENGINE_SIDECAR_FORMATS:
        found = data.get("format") if isinstance(data, dict) else None
        raise InputError(f"{path} is not an edgeattn engine sidecar (format {found!r})")
    return _upgrade_engine_sidecar(data)


def _upgrade_engine_sidecar(data: dict[str, Any]) -> dict[str, Any]:
    """Compatibility with engines built by earlier versions (format ``/1``): ``precision`` was a
    dict ``{"precision", "onnx_precision", "detected_from", "path", "strongly_typed", "tf32"}``;
    now it is the plain string ONNX metadata holds and the rest is ``precision_plan``."""
    if data.get("format") == ENGINE_SIDECAR_FORMAT:
        return data
    out = dict(data)
    old = data.get("precision")
    if isinstance(old, Mapping):
        out["precision"] = old.get("precision")
        out["precision_plan"] = {k: v for k, v in old.items() if k != "precision"}
    out["format"] = ENGINE_SIDECAR_FORMAT
    return out


def _engine_tensor(entry: Mapping[str, Any]) -> TensorInfo:
    return TensorInfo(str(entry["name"]), np.dtype(str(entry["dtype"])), tuple(int(d) for d in entry["shape"]))


__all__ = [
    "BLOCKS",
    "ENGINE_SIDECAR_FORMAT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRECISION",
    "PRECISIONS",
    "PROBES",
    "PROVENANCE",
    "QUANTIZATION",
    "ArtifactInfo",
    "InputSpec",
    "Preprocessing",
    "TensorInfo",
    "json_value",
    "metadata_props",
    "provenance_record",
    "read_engine_sidecar",
]
