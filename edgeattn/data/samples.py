"""Load model inputs from disk: an image folder, a ``.npy`` array or a ``.npz`` archive.

Folder layouts follow torchvision's ``ImageFolder``: class sub-folders (sorted names = label
indices, files walked in sorted order) give labelled samples; a flat folder gives unlabelled ones.
Arrays are taken as already preprocessed ``[N, C, H, W]`` (or one ``[C, H, W]``) tensors.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence as SequenceOf
from typing import Union

import numpy as np

from ..errors import InputError
from .preprocessing import Preprocessing

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
LABEL_KEYS = ("labels", "label", "targets", "y")
# The model's class order: names, or a text file with one name per line (typing forms: evaluated
# at runtime, so no PEP 585/604 on Python 3.8).
ClassNames = Union[SequenceOf[str], str, "os.PathLike[str]", None]


@dataclass
class Samples:
    """Model inputs ``arrays`` (float32 ``[N, C, H, W]``), optional integer ``labels`` and names."""

    arrays: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    paths: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return int(self.arrays.shape[0])

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Consecutive ``[<=batch_size, C, H, W]`` slices (the last one may be short)."""
        if batch_size < 1:
            raise InputError(f"batch size: received {batch_size}, expected >= 1")
        for start in range(0, len(self), batch_size):
            yield self.arrays[start : start + batch_size]


def random_samples(
    input_size: Sequence[int], num_samples: int, *, seed: int = 0, low: float = -2.0, high: float = 2.0
) -> Samples:
    """Seeded uniform inputs in [low, high): about the range of ImageNet-normalised pixels."""
    if num_samples < 1:
        raise InputError(f"number of samples: received {num_samples}, expected >= 1")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: received {seed!r}, expected an integer >= 0")
    from ..platform.memory import check_allocation

    shape = (num_samples, *(int(d) for d in input_size))
    check_allocation(4 * int(np.prod(shape, dtype=np.float64)), f"{num_samples} random input(s) of shape {list(shape[1:])}")
    rng = np.random.default_rng(seed)
    # Drawn in float32 directly: a float64 draw cast afterwards needs three times the memory.
    arrays = rng.random(size=shape, dtype=np.float32)
    arrays *= np.float32(high - low)
    arrays += np.float32(low)
    return Samples(arrays=arrays, source=f"random(seed={seed})")


def reads_images(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`load_samples` decodes images for ``path`` (a folder or an image file: Pillow)."""
    src = Path(path)
    return src.is_dir() or src.suffix.lower() in IMAGE_EXTENSIONS


def load_samples(
    path: str | os.PathLike[str],
    input_size: Sequence[int] | None = (3, 224, 224),
    preprocessing: Preprocessing | None = None,
    limit: int | None = None,
    *,
    input_name: str | None = None,
    class_names: ClassNames = None,
) -> Samples:
    """Load inputs from an image folder, ``.npy`` or ``.npz``; see the module docstring.

    ``input_size`` is ``(C, H, W)``; images are preprocessed with ``preprocessing`` (default: the
    ImageNet recipe at ``input_size``) and arrays are checked against it. ``limit`` keeps that
    many samples, evenly spread over the set (so every class stays represented). ``class_names``:
    the model's class order for a class-per-folder layout (default: sorted folder names).
    This reads everything into memory; :func:`edgeattn.data.stream_samples` reads in batches.
    """
    src = Path(path)
    if limit is not None and limit < 1:
        raise InputError(f"sample limit: received {limit}, expected >= 1")
    if not src.exists():
        raise InputError(f"input data not found: {src}", hint="pass an image folder, a .npy or a .npz file")
    size = tuple(int(d) for d in input_size) if input_size is not None else None
    if size is not None and len(size) != 3:
        raise InputError(f"input_size: received {list(size)}, expected (C, H, W)")
    if reads_images(src):
        from .._lazy import require

        require("PIL", "reading images")
    if src.is_dir():
        if preprocessing is None:
            preprocessing = Preprocessing(input_size=size or (3, 224, 224))
        elif size is not None and preprocessing.input_size != size:
            preprocessing = Preprocessing.from_dict(preprocessing.to_dict(), input_size=size)
        return _load_folder(src, preprocessing, limit, read_class_names(class_names))
    suffix = src.suffix.lower()
    if suffix == ".npy":
        _check_npy_header(src)
        try:
            array = np.load(src, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"cannot read {src}: {_first_line(exc)}") from None
        arrays = _check_array(array, size, str(src))
        labels = None
    elif suffix == ".npz":
        arrays, labels = _load_npz(src, size, input_name)
    elif suffix in IMAGE_EXTENSIONS:
        pre = preprocessing or Preprocessing(input_size=size or (3, 224, 224))
        return Samples(arrays=pre.load_image(src)[None], paths=[str(src)], source=str(src))
    else:
        raise InputError(
            f"input data {src}: received a {suffix or 'suffix-less'} file, expected an image folder, .npy or .npz"
        )
    index = _spread(len(arrays), limit)
    arrays = arrays[index]
    if labels is not None:
        labels = labels[index]
    return Samples(arrays=np.ascontiguousarray(arrays), labels=labels, source=str(src))


def _spread(total: int, limit: int | None) -> np.ndarray:
    if limit is None or limit >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, num=limit).round().astype(np.int64))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _check_npy_header(src: Path, *, allocate: bool = True) -> None:
    """Read only the ``.npy`` header: refuse, before any data is read, an array the file cannot
    hold (a header claiming TiBs in a small file) or the machine cannot (memory)."""
    from ..platform.memory import check_allocation, format_bytes

    try:
        with open(src, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            data_start = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise InputError(f"cannot read {src}: not a valid .npy file ({_first_line(exc)})") from None
    if dtype.hasobject:
        raise InputError(f"{src}: received an object array (pickled Python objects), expected a numeric array")
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    available = src.stat().st_size - data_start
    if nbytes > available:
        raise InputError(
            f"{src}: its header claims a {dtype} array of shape {list(shape)} ({format_bytes(nbytes)}) but the file "
            f"holds {format_bytes(max(available, 0))} of data; expected a complete .npy file"
        )
    if allocate:  # read whole (a memory-mapped stream reads a batch at a time)
        check_allocation(nbytes + 4 * int(np.prod(shape, dtype=np.float64)), f"{src} ({dtype}{list(shape)})")


def _check_array(array: np.ndarray, size: tuple[int, ...] | None, name: str) -> np.ndarray:
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(
            f"{name}: received complex dtype {array.dtype}, expected real-valued inputs",
            hint="pass the real part (a.real) or the magnitude (abs(a)) explicitly",
        )
    if not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{name}: received dtype {array.dtype}, expected a numeric array")
    if array.ndim == 3:
        array = array[None]
    expected = f"[N,{','.join(map(str, size))}] or [{','.join(map(str, size))}]" if size else "[N,C,H,W] or [C,H,W]"
    if array.ndim != 4:
        raise InputError(f"{name}: received shape {list(array.shape)}, expected {expected}")
    if size is not None and tuple(array.shape[1:]) != size:
        hint = None
        if array.shape[-1] == size[0] and tuple(array.shape[1:3]) == size[1:]:
            hint = "the array looks channels-last (NHWC); transpose it to NCHW: a.transpose(0, 3, 1, 2)"
        raise InputError(f"{name}: received shape {list(array.shape)}, expected {expected}", hint=hint)
    if array.shape[0] == 0:
        raise InputError(f"{name}: received an empty array (0 samples), expected at least one")
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - np.count_nonzero(finite))
        raise InputError(f"{name}: received {bad} NaN or Inf value(s), expected finite inputs")
    return array


def _load_npz(src: Path, size: tuple[int, ...] | None, input_name: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        archive = np.load(src, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"cannot read {src}: {_first_line(exc)}") from None
    try:
        with archive:
            return _read_npz(archive, src, size, input_name)
    except ValueError as exc:  # an object array (needs pickle) or a damaged member
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {src}: {_first_line(exc)}; expected numeric arrays") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {src}: {_first_line(exc)}") from None


def npz_keys(keys: Sequence[str], src: Path, input_name: str | None) -> tuple[str, str | None]:
    """(the input array's key, the labels' key or None) among an ``.npz``'s arrays: the one named
    ``input_name``, else the only array that is not labels."""
    label_key = next((k for k in LABEL_KEYS if k in keys), None)
    data_keys = [k for k in keys if k != label_key]
    if input_name is not None and input_name in keys:
        return input_name, label_key
    if len(data_keys) == 1:
        return data_keys[0], label_key
    raise InputError(
        f"{src}: received arrays {list(keys)}, expected one input array"
        + (f" or one named {input_name!r}" if input_name else "")
        + f" (plus optional {LABEL_KEYS[0]!r})"
    )


def _read_npz(
    archive: np.lib.npyio.NpzFile, src: Path, size: tuple[int, ...] | None, input_name: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    key, label_key = npz_keys(list(archive.files), src, input_name)
    arrays = _check_array(archive[key], size, f"{src}[{key}]")
    labels = None
    if label_key is not None:
        labels = np.asarray(archive[label_key])
        if labels.ndim != 1 or labels.shape[0] != arrays.shape[0] or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(
                f"{src}[{label_key}]: received {labels.dtype.name}{list(labels.shape)}, "
                f"expected integer class indices of shape [{arrays.shape[0]}]"
            )
        labels = labels.astype(np.int64)
    return arrays, labels


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _walk_images(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if _is_image(Path(root) / f))
    return found


def read_class_names(class_names: ClassNames) -> list[str] | None:
    """A class list as given: a sequence of names, or a text file with one name per line."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, os.PathLike)):
        path = Path(class_names)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the class list {path}: {_first_line(exc)}",
                             hint="pass a text file with one class name per line, in the model's class order") from None
        names = [line.strip() for line in text.splitlines() if line.strip()]
        origin = str(path)
    else:
        names = [str(name) for name in class_names]
        origin = "the class list"
    if not names:
        raise InputError(f"{origin}: received no class names, expected one per line in the model's class order")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{origin}: received {', '.join(map(repr, repeated[:5]))} more than once, expected each class once")
    return names


def list_image_folder(
    folder: Path, class_names: Sequence[str] | None = None
) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """``(files, labels, class_names)`` of an image folder; see the module docstring for labels."""
    class_dirs = sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    files: list[Path]
    if not class_dirs:
        files = sorted((p for p in folder.iterdir() if _is_image(p)), key=lambda p: p.name)
        labels: list[int] | None = None
        names: list[str] | None = None
    else:
        if class_names is None:
            names = [d.name for d in class_dirs]  # ImageFolder: index = position in sorted order
        else:
            names = list(class_names)
            unknown = [d.name for d in class_dirs if d.name not in names]
            if unknown:
                raise InputError(
                    f"image folder {folder}: received class folder(s) {', '.join(map(repr, unknown[:5]))} that the class "
                    f"list does not name, expected folders named after its {len(names)} classes",
                    hint="fix the folder names or the class list (one name per line, in the model's class order)",
                )
        index_of = {name: i for i, name in enumerate(names)}
        files, labels = [], []
        for directory in class_dirs:
            members = _walk_images(directory)
            if not members:
                raise InputError(
                    f"class folder {directory} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})",
                    hint="remove the empty folder or add images to it",
                )
            files.extend(members)
            labels.extend([index_of[directory.name]] * len(members))
    if not files:
        raise InputError(
            f"image folder {folder} is empty: expected image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) "
            "directly inside it or in class sub-folders"
        )
    return files, labels, names


def _load_folder(folder: Path, preprocessing: Preprocessing, limit: int | None, class_names: list[str] | None = None) -> Samples:
    files, labels, names = list_image_folder(folder, class_names)
    index = _spread(len(files), limit)
    chosen = [files[i] for i in index]
    arrays = np.stack([preprocessing.load_image(p) for p in chosen]).astype(np.float32, copy=False)
    label_array = np.asarray([labels[i] for i in index], dtype=np.int64) if labels is not None else None
    return Samples(
        arrays=arrays,
        labels=label_array,
        class_names=names,
        paths=[str(p) for p in chosen],
        source=str(folder),
    )
