"""Read model inputs in batches with bounded memory: image folders, ``.npy`` and ``.npz``.

:func:`load_samples` decodes a whole data set into one array (1,000 images at 224x224 are
602 MB; an ImageNet validation folder would need ~30 GB). :func:`stream_samples` reads the same
sources batch by batch instead, so the peak memory is a few batches whatever the data set size:

- image folders: files are listed up front (paths and labels only); images are decoded and
  preprocessed on one worker thread that keeps at most ``prefetch`` batches ready in a bounded
  queue, so the runtime does not wait for the decoder (Pillow releases the GIL while decoding
  and resizing, so the two overlap even on CPython);
- ``.npy``: memory-mapped (``np.load(mmap_mode="r")``); a batch is copied out when it is used;
- ``.npz``: the input member is read row by row from the archive (stored or deflated), so a
  compressed archive is never inflated whole.

Labels follow :mod:`edgeattn.data.samples`: a class-per-folder layout numbers the classes by
sorted folder name (torchvision ``ImageFolder``), unless ``class_names`` gives the model's own
class order (a list, or a text file with one name per line), which a folder name must then be in.
"""

from __future__ import annotations

import os
import queue
import threading
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, List, Optional

import numpy as np

from ..errors import InputError
from .preprocessing import Preprocessing
from .samples import (
    IMAGE_EXTENSIONS,
    ClassNames,
    Samples,
    _check_array,
    _check_npy_header,
    _first_line,
    _spread,
    list_image_folder,
    npz_keys,
    read_class_names,
    reads_images,
)

# typing aliases: evaluated at runtime, so no PEP 585/604 forms (Python 3.8).
_Reader = Callable[[np.ndarray], np.ndarray]  # positions in the stream -> float32 [n, C, H, W]

DEFAULT_PREFETCH = 2
# Bytes skipped per read when seeking forward inside a compressed .npz member.
_SKIP_CHUNK = 16 * 1024 * 1024


class SampleStream:
    """Model inputs read in batches: ``len()`` samples of ``sample_shape``, optional ``labels``.

    ``labels`` (int64, one per sample), ``class_names`` and ``paths`` are known up front; the
    inputs themselves are read only by :meth:`batches` (in order) and :meth:`sample` (one).
    """

    def __init__(
        self,
        count: int,
        sample_shape: Sequence[int],
        reader: _Reader,
        *,
        labels: np.ndarray | None = None,
        class_names: list[str] | None = None,
        paths: list[str] | None = None,
        source: str = "",
    ) -> None:
        self._count = int(count)
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self._read = reader
        self._lock = threading.Lock()  # one read at a time: the .npz reader keeps a file position
        self.labels = labels
        self.class_names = class_names
        self.paths = paths or []
        self.source = source

    @classmethod
    def from_samples(cls, samples: Samples) -> SampleStream:
        """An in-memory :class:`Samples` as a stream (batches are views of its array)."""
        arrays = samples.arrays
        return cls(
            len(samples), arrays.shape[1:], lambda pos: arrays[pos[0] : pos[-1] + 1] if _contiguous(pos) else arrays[pos],
            labels=samples.labels, class_names=samples.class_names, paths=list(samples.paths), source=samples.source,
        )

    def __len__(self) -> int:
        return self._count

    def sample(self, index: int) -> np.ndarray:
        """Sample ``index`` as a ``[1, C, H, W]`` batch (read again: e.g. the worst one, to localise)."""
        if not 0 <= index < self._count:
            raise InputError(f"sample index: received {index}, expected 0..{self._count - 1}")
        with self._lock:
            return self._read(np.array([index], dtype=np.int64))

    def batches(self, batch_size: int, *, prefetch: int = DEFAULT_PREFETCH) -> Iterator[np.ndarray]:
        """Consecutive ``[<=batch_size, C, H, W]`` float32 batches, read ahead on one worker thread.

        At most ``prefetch`` batches wait in the queue (plus the one being read and the one the
        caller holds), which bounds the memory. An error while reading (an unreadable image, NaN
        in an array) is raised here, in the caller's thread. Closing the iterator early stops
        the worker.
        """
        if batch_size < 1:
            raise InputError(f"batch size: received {batch_size}, expected >= 1")
        if prefetch < 1:
            raise InputError(f"prefetch: received {prefetch}, expected >= 1")
        positions = [np.arange(start, min(start + batch_size, self._count), dtype=np.int64)
                     for start in range(0, self._count, batch_size)]
        if len(positions) <= 1:  # nothing to overlap with: no thread
            for pos in positions:
                yield self._locked_read(pos)  # not yielded under the lock: sample() may be called meanwhile
            return
        yield from _prefetched(positions, self._locked_read, prefetch)

    def _locked_read(self, pos: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._read(pos)

    def to_samples(self) -> Samples:
        """Every sample in one array (what :func:`load_samples` returns): for small sets only."""
        parts = list(self.batches(256))
        arrays = np.concatenate(parts) if parts else np.empty((0, *self.sample_shape), np.float32)
        return Samples(arrays=arrays, labels=self.labels, class_names=self.class_names, paths=list(self.paths), source=self.source)


def _contiguous(pos: np.ndarray) -> bool:
    return pos.size > 0 and int(pos[-1]) - int(pos[0]) + 1 == pos.size


def _prefetched(positions: list[np.ndarray], read: _Reader, depth: int) -> Iterator[np.ndarray]:
    """Run ``read`` over ``positions`` on one worker thread, ``depth`` results ahead at most."""
    ready = queue.Queue(maxsize=depth)  # type: ignore[var-annotated]
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for pos in positions:
                if not put(read(pos)):
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(_Failure(exc))
            return
        put(done)

    worker = threading.Thread(target=work, name="edgeattn-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def stream_samples(
    path: str | os.PathLike[str],
    input_size: Sequence[int] | None = (3, 224, 224),
    preprocessing: Preprocessing | None = None,
    limit: int | None = None,
    *,
    input_name: str | None = None,
    class_names: ClassNames = None,
) -> SampleStream:
    """Open an image folder, ``.npy``, ``.npz`` or one image as a :class:`SampleStream`.

    Arguments as :func:`edgeattn.data.load_samples` (``limit`` keeps that many samples, evenly
    spread); ``class_names`` gives the model's class order for a class-per-folder layout.
    Shapes, dtypes and labels are checked here, before any batch is read; NaN/Inf in an array
    is found in the batch that holds it.
    """
    src = Path(path)
    if limit is not None and limit < 1:
        raise InputError(f"sample limit: received {limit}, expected >= 1")
    if not src.exists():
        raise InputError(f"input data not found: {src}", hint="pass an image folder, a .npy or a .npz file")
    size = tuple(int(d) for d in input_size) if input_size is not None else None
    if size is not None and len(size) != 3:
        raise InputError(f"input_size: received {list(size)}, expected (C, H, W)")
    names = read_class_names(class_names)
    if names is not None and not src.is_dir():
        raise InputError(f"a class list applies to a class-per-folder image folder; received {src}",
                         hint="drop the class list, or store labels in the .npz as 'labels'")
    if reads_images(src):
        from .._lazy import require

        require("PIL", "reading images")
        if preprocessing is None:
            preprocessing = Preprocessing(input_size=size or (3, 224, 224))
        elif size is not None and preprocessing.input_size != size:
            preprocessing = Preprocessing.from_dict(preprocessing.to_dict(), input_size=size)
    if src.is_dir():
        assert preprocessing is not None
        return _folder_stream(src, preprocessing, limit, names)
    suffix = src.suffix.lower()
    if suffix == ".npy":
        return _npy_stream(src, size, limit)
    if suffix == ".npz":
        return _npz_stream(src, size, limit, input_name)
    if suffix in IMAGE_EXTENSIONS:
        assert preprocessing is not None
        return _folder_stream(src, preprocessing, None, None)
    raise InputError(f"input data {src}: received a {suffix or 'suffix-less'} file, expected an image folder, .npy or .npz")


def _folder_stream(src: Path, pre: Preprocessing, limit: int | None, names: list[str] | None) -> SampleStream:
    if src.is_dir():
        files, labels, class_names = list_image_folder(src, names)
    else:
        files, labels, class_names = [src], None, None
    index = _spread(len(files), limit)
    chosen = [os.fspath(files[i]) for i in index]
    shape = tuple(int(d) for d in pre.input_size)

    def read(pos: np.ndarray) -> np.ndarray:
        # Filled in place: np.stack over a list would hold every image twice.
        out = np.empty((pos.size, *shape), dtype=np.float32)
        for row, p in enumerate(pos):
            out[row] = pre.load_image(chosen[int(p)])
        return out

    label_array = np.asarray([labels[i] for i in index], dtype=np.int64) if labels is not None else None
    return SampleStream(len(chosen), shape, read, labels=label_array, class_names=class_names, paths=chosen, source=str(src))


def _checked(src: str, size: tuple[int, ...] | None, first: np.ndarray) -> tuple[int, ...]:
    """Check one sample's dtype and shape (what ``_check_array`` checks, on one row); its shape."""
    return tuple(_check_array(np.array(first[:1]), size, src).shape[1:])


def _batch_checker(src: str, size: tuple[int, ...] | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def check(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
        name = f"{src} (samples {int(pos[0])}..{int(pos[-1])})" if pos.size > 1 else f"{src} (sample {int(pos[0])})"
        return np.ascontiguousarray(_check_array(rows, size, name), dtype=np.float32)

    return check


def _npy_stream(src: Path, size: tuple[int, ...] | None, limit: int | None) -> SampleStream:
    _check_npy_header(src, allocate=False)
    try:
        array = np.load(src, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"cannot read {src}: {_first_line(exc)}") from None
    if array.ndim == 3:
        array = array[None]
    if array.ndim == 4 and array.shape[0] == 0:
        raise InputError(f"{src}: received an empty array (0 samples), expected at least one")
    shape = _checked(str(src), size, array if array.ndim == 4 else np.asarray(array))
    index = _spread(int(array.shape[0]), limit)
    check = _batch_checker(str(src), size)

    def read(pos: np.ndarray) -> np.ndarray:
        rows = index[pos]
        # A slice of the memory map reads only those rows; fancy indexing copies just them too.
        block = array[int(rows[0]) : int(rows[-1]) + 1] if _contiguous(rows) else array[rows]
        return check(np.asarray(block), rows)

    return SampleStream(len(index), shape, read, source=str(src))


class _NpzMember:
    """Rows of one ``.npy`` member of a zip archive, read forward (stored or deflated)."""

    def __init__(self, src: Path, key: str) -> None:
        self.src = src
        self.member = key + ".npy"
        self._zip = zipfile.ZipFile(src)
        self._open()

    def _open(self) -> None:
        self._handle = self._zip.open(self.member)
        version = np.lib.format.read_magic(self._handle)
        if version == (1, 0):
            self.shape, self.fortran, self.dtype = np.lib.format.read_array_header_1_0(self._handle)
        else:
            self.shape, self.fortran, self.dtype = np.lib.format.read_array_header_2_0(self._handle)
        # One [C, H, W] sample is one row of itself.
        self.row_shape = tuple(self.shape) if len(self.shape) == 3 else tuple(self.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._row = 0

    def rows(self, start: int, stop: int) -> np.ndarray:
        if start < self._row:
            self._open()  # backwards (e.g. one sample again, to localise): from the top
        skip = (start - self._row) * self.row_bytes
        while skip > 0:
            got = len(self._handle.read(min(skip, _SKIP_CHUNK)))
            if got == 0:
                raise EOFError("archive member ends early")
            skip -= got
        want = (stop - start) * self.row_bytes
        data = self._handle.read(want)
        if len(data) != want:
            raise EOFError(f"archive member ends early ({len(data)} of {want} bytes)")
        self._row = stop
        return np.frombuffer(data, dtype=self.dtype).reshape((stop - start, *self.row_shape))


def _npz_stream(src: Path, size: tuple[int, ...] | None, limit: int | None, input_name: str | None) -> SampleStream:
    try:
        with zipfile.ZipFile(src) as archive:
            keys = [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {src}: {_first_line(exc)}") from None
    key, label_key = npz_keys(keys, src, input_name)
    try:
        member = _NpzMember(src, key)
        if member.dtype.hasobject:
            raise InputError(f"{src}[{key}]: received an object array (pickled Python objects), expected a numeric array")
        if member.fortran or len(member.shape) not in (3, 4):
            # Column-major rows are not contiguous in the file (and a wrong rank is refused by the
            # check below): read the member whole, as load_samples does.
            with np.load(src, allow_pickle=False) as archive:
                whole = _check_array(archive[key], size, f"{src}[{key}]")
            whole_labels = _npz_labels(src, label_key, whole.shape[0])
            picked = _spread(whole.shape[0], limit)
            return SampleStream(len(picked), whole.shape[1:], lambda pos: whole[picked[pos]],
                                labels=None if whole_labels is None else whole_labels[picked], source=str(src))
        count = 1 if len(member.shape) == 3 else int(member.shape[0])
        if count == 0:
            raise InputError(f"{src}[{key}]: received an empty array (0 samples), expected at least one")
        shape = _checked(f"{src}[{key}]", size, member.rows(0, 1).reshape((1, *member.row_shape)))
        labels = _npz_labels(src, label_key, count)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {src}[{key}]: {_first_line(exc)}; expected numeric arrays") from None
    index = _spread(count, limit)
    check = _batch_checker(f"{src}[{key}]", size)

    def read(pos: np.ndarray) -> np.ndarray:
        rows = index[pos]
        out = np.empty((rows.size, *shape), dtype=np.float32)
        filled = 0
        try:
            for start, stop in _runs(rows):  # consecutive rows in one read; gaps skipped
                block = member.rows(start, stop).reshape((stop - start, *member.row_shape))
                out[filled : filled + stop - start] = check(block, np.arange(start, stop))
                filled += stop - start
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"cannot read {src}[{key}]: {_first_line(exc)}") from None
        return out

    return SampleStream(len(index), shape, read, labels=None if labels is None else labels[index], source=str(src))


def _runs(rows: np.ndarray) -> Iterator[tuple[int, int]]:
    """``[3, 4, 5, 9]`` -> ``(3, 6), (9, 10)``."""
    start = prev = int(rows[0])
    for r in rows[1:]:
        r = int(r)
        if r != prev + 1:
            yield start, prev + 1
            start = r
        prev = r
    yield start, prev + 1


def _npz_labels(src: Path, label_key: Optional[str], count: int) -> Optional[np.ndarray]:
    if label_key is None:
        return None
    with np.load(src, allow_pickle=False) as archive:
        labels = np.asarray(archive[label_key])
    if labels.ndim != 1 or labels.shape[0] != count or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"{src}[{label_key}]: received {labels.dtype.name}{list(labels.shape)}, "
            f"expected integer class indices of shape [{count}]"
        )
    return labels.astype(np.int64)


__all__: List[str] = ["SampleStream", "list_image_folder", "read_class_names", "stream_samples"]
