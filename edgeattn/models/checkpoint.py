"""Safe checkpoint reading and loading into a model.

Reading (``read_checkpoint``):
- ``.safetensors`` (by suffix or by its header) through ``safetensors``;
- ``.pt``/``.pth``/``.bin``/anything else through ``torch.load(weights_only=True)``: zip or legacy
  format, tensors and plain containers only. A file that needs arbitrary unpickling (a whole
  pickled model, a training object) is refused unless ``unsafe_pickle=True`` — unpickling runs
  code from the file. TorchScript archives are read through ``torch.jit.load``.

Loading (``load_checkpoint``): the container is unpacked (``state_dict_ema``/``model_ema`` first
when ``prefer_ema``, then ``state_dict``/``model_state_dict``/``model``/...), ``module.`` and
``_orig_mod.`` prefixes are stripped, known foreign layouts are converted (official CBAM code,
senet.pytorch, timm CBAM: see ``convert.py``), missing ``num_batches_tracked`` buffers (old
PyTorch) are tolerated, then keys and shapes are compared with the model. Strict by default: a
mismatch is reported as one short line (counts plus the first few keys and both shapes).
Non-finite weights (NaN/Inf) are an error by default (``allow_nonfinite=True`` warns instead):
a model with NaN weights exports and builds fine and only fails at parity time, far from the cause.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from ..errors import CheckpointError, EdgeattnWarning

StateDict = dict[str, torch.Tensor]
PathLike = Union[str, "os.PathLike[str]"]

# Container keys, in the order they are tried (timm's saver, Lightning-free training scripts,
# torchvision references, the official CBAM code).
EMA_KEYS = ("state_dict_ema", "model_ema", "ema_state_dict", "ema")
PLAIN_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "params", "weights")
PREFIXES = ("module.", "_orig_mod.")
_SHOW = 4  # keys shown per category in a mismatch line


@dataclass
class LoadReport:
    """What ``load_checkpoint`` did: where the weights came from and what did not fit."""

    path: str | None
    container: str
    converter: str | None = None
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    nonfinite: list[tuple[str, int]] = field(default_factory=list)
    filled_num_batches_tracked: int = 0

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "container": self.container,
            "converter": self.converter,
            "loaded": self.loaded,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "mismatched": [{"key": k, "checkpoint": list(a), "model": list(b)} for k, a, b in self.mismatched],
            "nonfinite": [{"key": k, "count": n} for k, n in self.nonfinite],
        }


# --------------------------------------------------------------------------------------- reading
def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    # Header: u64 little-endian JSON length, then the JSON object.
    with path.open("rb") as fh:
        head = fh.read(9)
    if len(head) < 9:
        return False
    (size,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 2 <= size <= path.stat().st_size


def is_torchscript_archive(path: PathLike) -> bool:
    """True for a ``torch.jit.save`` archive (a zip holding ``code/`` and ``constants.pkl``)."""
    path = Path(path)
    if not path.is_file() or not _is_zip(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return False  # damaged: torch.load's own reader reports it
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def _is_zip(path: Path) -> bool:
    """``zipfile.is_zipfile``, which raises BadZipFile itself for some damaged end records."""
    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}", hint="check the path")
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint path is a directory: {path}; expected a .pt/.pth/.safetensors file",
            hint="Hugging Face folders: pass the model.safetensors file inside",
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}", hint="the download or save did not finish")
    # Deployment artifacts are the usual mix-up; torch.load would call them corrupt pickles.
    kind = ARTIFACT_SUFFIXES.get(path.suffix.lower())
    if kind is not None:
        raise CheckpointError(
            f"{path} is {kind}, not a PyTorch checkpoint; expected a .pt/.pth/.safetensors file",
            hint="pass the artifact itself to validate/quantize/bench/build, and the weights it was "
            "exported from as --checkpoint",
        )


ARTIFACT_SUFFIXES = {
    ".onnx": "an ONNX model",
    ".engine": "a TensorRT engine",
    ".plan": "a TensorRT engine",
    ".trt": "a TensorRT engine",
}


def _global_resolves(name: str) -> bool:
    import importlib

    module, _, attr = name.rpartition(".")
    while module:
        try:
            obj: Any = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - any failure means "does not resolve"
            module, _, head = module.rpartition(".")
            attr = f"{head}.{attr}"
            continue
        for part in attr.split("."):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def _refused_global(message: str) -> str | None:
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL)\s+([\w.]+)", message)
    if found:
        return found.group(1)
    found = re.search(r"add_safe_globals\(\[([\w.]+)\]\)", message)
    return found.group(1) if found else None


def read_checkpoint(path: PathLike, *, unsafe_pickle: bool = False) -> Any:
    """The object stored in ``path``; only tensors and plain containers unless ``unsafe_pickle``."""
    path = Path(path)
    _check_file(path)
    if _is_safetensors(path):
        return _read_safetensors(path)
    if is_torchscript_archive(path):
        try:
            return jit_load(path)
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError subclasses of all kinds
            raise CheckpointError(f"cannot read TorchScript archive {path}: {_first_line(exc)}") from None
    if unsafe_pickle:
        warnings.warn(
            f"unpickling {path} with weights_only=False: this runs any code stored in the file",
            EdgeattnWarning,
            stacklevel=2,
        )
    _check_format(path)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=not unsafe_pickle)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        name = _refused_global(text)
        garbage = name is None and "Unsupported operand" in text  # bytes that are no pickle opcode
        if not unsafe_pickle and not garbage and "Weights only load failed" in text and (name is None or _global_resolves(name)):
            what = f" ({name})" if name else ""
            raise CheckpointError(
                f"{path} holds pickled Python objects{what}, not only tensors; loading it would run code "
                "from the file, so it was refused",
                hint="if you trust the file, pass --unsafe-pickle (API: unsafe_pickle=True); better, "
                "re-save it once as model.state_dict() or .safetensors",
            ) from None
        what = f" (its pickle names {name}, which does not exist)" if name else ""
        raise CheckpointError(f"{path} is corrupt or truncated{what}", hint="download or save it again") from None
    except MemoryError:
        raise CheckpointError(f"{path} claims more memory than is available: corrupt or not a checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - torch's readers leak IndexError, AssertionError, TypeError, NotImplementedError... on damaged files
        raise _classify_read_error(path, exc) from None


# First bytes of files that are often passed as a checkpoint by mistake.
_KNOWN_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"{", "a JSON or text file"),
    (b"<", "an HTML or XML file"),
)


def _check_format(path: Path) -> None:
    """Name what the file is when it cannot be a ``torch.save`` file (a zip archive, or a legacy
    pickle that starts with the PROTO opcode 0x80), instead of calling it a pickle to trust."""
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.startswith(b"PK") or head[:1] == b"\x80" or tarfile_header(head):
        return
    what = next((name for magic, name in _KNOWN_MAGIC if head.startswith(magic)), None)
    raise CheckpointError(
        f"{path} is {what or 'not a PyTorch or safetensors checkpoint (its first bytes match no known format)'}"
        + ("; expected a PyTorch or safetensors checkpoint" if what else ""),
        hint="expected a file written by torch.save or safetensors",
    )


def tarfile_header(head: bytes) -> bool:
    """PyTorch < 0.4 saved checkpoints as tar archives ('ustar' at offset 257)."""
    return len(head) >= 262 and head[257:262] == b"ustar"


def jit_load(path: PathLike) -> Any:
    """``torch.jit.load`` on the CPU, without its deprecation notice (not actionable for users)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        return torch.jit.load(str(path), map_location="cpu")


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception message: torch's are paragraphs."""
    text = str(exc).strip().splitlines()
    line = text[0].split(". ")[0].rstrip(".")[:160].strip() if text else ""
    return line or f"{type(exc).__name__}, no message"


def _classify_read_error(path: Path, exc: BaseException) -> CheckpointError:
    text = str(exc)
    if _is_zip(path) or "central directory" in text or "zip archive" in text:
        return CheckpointError(
            f"{path} is a corrupt or truncated PyTorch zip checkpoint ({_first_line(exc)})",
            hint="download or save it again",
        )
    if isinstance(exc, EOFError):
        return CheckpointError(f"{path} ends early: truncated checkpoint", hint="download or save it again")
    if isinstance(exc, NotImplementedError):
        return CheckpointError(
            f"{path} holds a tensor layout edgeattn cannot load ({_first_line(exc)})",
            hint="re-save dense tensors: {k: v.to_dense() for k, v in state_dict.items()}",
        )
    if isinstance(exc, (ImportError, AttributeError)):
        return CheckpointError(
            f"{path} refers to Python code that is not importable here ({_first_line(exc)})",
            hint="install the package that defined the pickled classes, or re-save a state_dict",
        )
    return CheckpointError(
        f"{path} is not a PyTorch or safetensors checkpoint ({type(exc).__name__}: {_first_line(exc)})",
        hint="expected a file written by torch.save or safetensors",
    )


def _read_safetensors(path: Path) -> StateDict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(
            f"{path} is a safetensors file but the safetensors package is not installed",
            hint="pip install safetensors (included in edgeattn[export])",
        ) from None
    try:
        return dict(load_file(str(path), device="cpu"))
    except Exception as exc:  # noqa: BLE001 - SafetensorError is not importable by a stable name
        raise CheckpointError(f"{path} is a corrupt or truncated safetensors file ({_first_line(exc)})") from None


# ------------------------------------------------------------------------------------ unpacking
def _tensor_items(mapping: Mapping[Any, Any]) -> StateDict:
    return {str(k): v for k, v in mapping.items() if isinstance(v, torch.Tensor)}


def _looks_like_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and sum(isinstance(v, torch.Tensor) for v in obj.values()) >= max(
        1, len(obj) // 2
    )


def _as_state_dict(value: Any) -> StateDict | None:
    if isinstance(value, nn.Module):
        return dict(value.state_dict())
    # timm ModelEma / ModelEmaV2 / ModelEmaV3 objects keep the averaged model in `.module`.
    inner = getattr(value, "module", None) or getattr(value, "ema", None)
    if isinstance(inner, nn.Module):
        return dict(inner.state_dict())
    if _looks_like_state_dict(value):
        return _tensor_items(value)
    return None


def extract_state_dict(obj: Any, *, prefer_ema: bool = True, path: str = "checkpoint") -> tuple[StateDict, str]:
    """(state_dict, container description) from whatever a checkpoint file held."""
    if isinstance(obj, Mapping) and not _looks_like_state_dict(obj):
        keys = (*EMA_KEYS, *PLAIN_KEYS) if prefer_ema else (*PLAIN_KEYS, *EMA_KEYS)
        for key in keys:
            if key in obj:
                found = _as_state_dict(obj[key])
                if found:
                    return found, f"['{key}']"
                if isinstance(obj[key], Mapping):
                    # One more level, e.g. {'model': {'state_dict': ...}}.
                    try:
                        inner, where = extract_state_dict(obj[key], prefer_ema=prefer_ema, path=path)
                    except CheckpointError:
                        continue
                    return inner, f"['{key}']{where}"
        shown = ", ".join(repr(k) for k in list(obj)[:8])
        raise CheckpointError(
            f"{path} holds a dict without weights (keys: {shown}); expected a state_dict or a container "
            f"with one of {', '.join(PLAIN_KEYS[:3] + EMA_KEYS[:2])}",
            hint="it may be an optimizer or metrics file",
        )
    found = _as_state_dict(obj)
    if found:
        return found, "state_dict" if isinstance(obj, Mapping) else f"whole {type(obj).__name__}"
    raise CheckpointError(
        f"{path} holds a {type(obj).__name__}, not model weights; expected a state_dict or a container of one"
    )


def strip_prefixes(state_dict: StateDict, prefixes: tuple[str, ...] = PREFIXES) -> StateDict:
    """Drop DataParallel's ``module.`` and torch.compile's ``_orig_mod.`` (in any order)."""
    out: StateDict = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    changed = True
        out[key] = value
    return out


# ------------------------------------------------------------------------------------- fitting
@dataclass
class _Diff:
    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]]

    @property
    def size(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.mismatched)


def _diff(model_sd: Mapping[str, torch.Tensor], sd: Mapping[str, torch.Tensor]) -> _Diff:
    missing = [k for k in model_sd if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in model_sd]
    mismatched = [
        (k, tuple(sd[k].shape), tuple(model_sd[k].shape))
        for k in model_sd
        if k in sd and tuple(sd[k].shape) != tuple(model_sd[k].shape)
    ]
    return _Diff(missing, unexpected, mismatched)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(v) for v in shape) + "]"


def _some(items: list[str]) -> str:
    more = f", +{len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return ", ".join(items[:_SHOW]) + more


def describe_mismatch(missing: list[str], unexpected: list[str], mismatched: list[tuple[str, Any, Any]]) -> str:
    """One line: ``2 missing (a, b); 1 unexpected (c); 1 shape mismatch (fc.weight: checkpoint [10, 512] vs model [1000, 512])``."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_some(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_some(unexpected)})")
    if mismatched:
        shown = [f"{k}: checkpoint {_shape(a)} vs model {_shape(b)}" for k, a, b in mismatched]
        parts.append(f"{len(mismatched)} shape mismatch{'es' if len(mismatched) > 1 else ''} ({_some(shown)})")
    return "; ".join(parts)


def classifier_name(model: nn.Module) -> str | None:
    """Module path of the last ``nn.Linear`` — the classifier (None for a model without one)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    return last


def classes_in_checkpoint(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> int | None:
    """Number of classes the checkpoint's classifier has, when it differs from the model's."""
    name = classifier_name(model)
    if name is None:
        return None
    weight = state_dict.get(f"{name}.weight")
    model_weight = dict(model.state_dict()).get(f"{name}.weight")
    if weight is None or model_weight is None or weight.dim() != 2:
        return None
    if weight.shape[1] == model_weight.shape[1] and weight.shape[0] != model_weight.shape[0]:
        return int(weight.shape[0])
    return None


def find_nonfinite(state_dict: Mapping[str, torch.Tensor]) -> list[tuple[str, int]]:
    """``(key, count)`` of floating tensors holding NaN or Inf."""
    bad = []
    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            count = int((~torch.isfinite(value)).sum())
            if count:
                bad.append((key, count))
    return bad


def load_state_dict_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    allow_nonfinite: bool = False,
    container: str = "state_dict",
    path: str | None = None,
) -> LoadReport:
    """Fit ``state_dict`` to ``model`` (prefix stripping, layout conversion) and copy it in."""
    from .convert import convert_state_dict, legacy_senet_model, se_width_options

    label = path or "the checkpoint"
    sd = strip_prefixes(_tensor_items(state_dict))
    model_sd = model.state_dict()
    diff = _diff(model_sd, sd)
    converter = None
    if diff.size:
        converted, converter = convert_state_dict(sd, model)
        if converter is not None:
            new_diff = _diff(model_sd, converted)
            if new_diff.size < diff.size:
                sd, diff = converted, new_diff
            else:
                converter = None
    report = LoadReport(
        path=path, container=container, converter=converter,
        missing=diff.missing, unexpected=diff.unexpected, mismatched=diff.mismatched,
    )
    matching = {k: v for k, v in sd.items() if k in model_sd and tuple(v.shape) == tuple(model_sd[k].shape)}
    # copy_ would cast int64/bool silently and drop a complex tensor's imaginary part.
    wrong_kind = [
        f"{k} ({str(v.dtype).removeprefix('torch.')})"
        for k, v in matching.items()
        if model_sd[k].is_floating_point() and not v.is_floating_point()
    ]
    if wrong_kind:
        raise CheckpointError(
            f"{label} has non-floating-point weights for floating-point model tensors: {_some(wrong_kind)}; "
            "expected float32/float16/bfloat16",
            hint="the file is damaged or not a checkpoint of this model",
        )
    if not matching:
        raise CheckpointError(
            f"no weight in {label} fits the model ({len(sd)} checkpoint keys, {len(model_sd)} model keys; "
            f"e.g. checkpoint {_some(list(sd)[:2])} vs model {_some(list(model_sd)[:2])})",
            hint="wrong architecture: name the model the checkpoint was trained with",
        )
    if diff.size:
        line = describe_mismatch(diff.missing, diff.unexpected, diff.mismatched)
        if strict:
            classes = classes_in_checkpoint(model, sd)
            legacy = legacy_senet_model(list(sd), {k: tuple(v.shape) for k, v in sd.items()})
            if legacy is not None:
                # --non-strict would load only the backbone convs and leave the stem, the SE blocks
                # and the classifier random: never suggest it for this layout.
                hint = (
                    f"this is a Cadene pretrainedmodels / timm legacy SENet checkpoint (layer0 stem, se_module, "
                    f"last_linear): load it with {legacy}; --non-strict would leave the stem, SE blocks and classifier random"
                )
            elif widths := se_width_options(model, sd):
                shown = ", ".join(f"{k}={v!r}" for k, v in widths.items())
                hint = (
                    f"the checkpoint's SE hidden widths follow another rule: build the model with {shown} "
                    "(load_model and the CLI pick it for zoo models)"
                )
            elif classes is not None and diff.size <= 2 and not diff.missing and not diff.unexpected:
                hint = f"the checkpoint's classifier has {classes} classes: pass num_classes={classes} (CLI --num-classes {classes})"
            else:
                hint = "wrong architecture or options? --non-strict (API: strict=False) loads the matching part"
            raise CheckpointError(f"{label} does not fit the model: {line}", hint=hint)
        warnings.warn(
            f"non-strict load of {label}: {line}; those weights keep their initial values",
            EdgeattnWarning,
            stacklevel=3,
        )
    report.nonfinite = find_nonfinite(matching)
    if report.nonfinite:
        shown = _some([f"{k} ({n} values)" for k, n in report.nonfinite])
        message = f"{label} has NaN/Inf weights in {len(report.nonfinite)} tensors: {shown}"
        if not allow_nonfinite:
            raise CheckpointError(message, hint="the training diverged or the file is damaged; "
                                  "allow_nonfinite=True (CLI --allow-nonfinite) loads it anyway")
        warnings.warn(message, EdgeattnWarning, stacklevel=3)
    # Old PyTorch (< 0.4.1) checkpoints lack BatchNorm's num_batches_tracked: keep the model's.
    report.filled_num_batches_tracked = sum(
        1 for k in model_sd if k.endswith("num_batches_tracked") and k not in matching
    )
    model.load_state_dict(matching, strict=False)  # differences were already computed and reported above
    report.loaded = len(matching)
    return report


def load_checkpoint(
    model: nn.Module,
    checkpoint: PathLike | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    unsafe_pickle: bool = False,
    prefer_ema: bool = True,
    allow_nonfinite: bool = False,
) -> LoadReport:
    """Load a checkpoint file (or an in-memory state_dict) into ``model``; returns a LoadReport.

    Raises CheckpointError for a missing/empty/truncated/foreign file, a file that needs unsafe
    unpickling (without ``unsafe_pickle``), weights that do not fit (when ``strict``), and NaN/Inf
    weights (unless ``allow_nonfinite``).
    """
    if isinstance(checkpoint, Mapping):
        return load_state_dict_into(model, checkpoint, strict=strict, allow_nonfinite=allow_nonfinite)
    path = str(checkpoint)
    state_dict, container = read_state_dict(path, unsafe_pickle=unsafe_pickle, prefer_ema=prefer_ema)
    return load_state_dict_into(
        model, state_dict, strict=strict, allow_nonfinite=allow_nonfinite, container=container, path=path
    )


def read_state_dict(
    path: PathLike, *, unsafe_pickle: bool = False, prefer_ema: bool = True
) -> tuple[StateDict, str]:
    """``(state_dict with prefixes stripped, container)`` of a checkpoint file."""
    obj = read_checkpoint(path, unsafe_pickle=unsafe_pickle)
    state_dict, container = extract_state_dict(obj, prefer_ema=prefer_ema, path=str(path))
    return strip_prefixes(state_dict), container
