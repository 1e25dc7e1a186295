"""Atomic file writes and content hashes.

Artifacts are written to a temporary file in the destination folder and renamed into place, so
an interrupted or failed run never leaves a half-written model, engine or report behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import InputError, os_error_cause


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class OutputSet:
    """Files written together: each goes to a temporary path beside its destination and all are
    renamed into place by :meth:`commit`, so a failure before then leaves every destination as it
    was (a model and its sidecar, a report and its chart).

    Temporary files are created only when :meth:`path` is asked for one, i.e. when the writing
    starts, never before the work that produces the content.
    """

    def __init__(self) -> None:
        self._pending: dict[Path, Path] = {}

    def path(self, destination: str | os.PathLike[str]) -> Path:
        """A fresh temporary path in ``destination``'s folder, renamed over it on commit."""
        dest = Path(destination)
        if dest in self._pending:
            return self._pending[dest]
        if dest.is_dir():
            raise InputError(f"cannot write {os.fspath(dest)}: it is a directory; expected a file path")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            # The temporary name is kept short so a destination whose own name is at the limit
            # fails on its rename-free check below, naming the destination, not the temp file.
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name[:64]}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
        except OSError as exc:
            raise InputError(f"cannot write {os.fspath(dest)}: {os_error_cause(exc)}") from None
        max_name = _max_name_length(dest.parent)
        if len(os.fsencode(dest.name)) > max_name:
            Path(tmp_name).unlink(missing_ok=True)
            raise InputError(
                f"cannot write {os.fspath(dest)}: file name too long ({len(os.fsencode(dest.name))} bytes; "
                f"expected at most {max_name})"
            )
        self._pending[dest] = Path(tmp_name)
        return self._pending[dest]

    def _write(self, destination: str | os.PathLike[str], write: Any) -> Path:
        try:
            write(self.path(destination))
        except OSError as exc:
            raise InputError(f"cannot write {os.fspath(destination)}: {os_error_cause(exc)}") from None
        return Path(destination)

    def write_bytes(self, destination: str | os.PathLike[str], data: bytes) -> Path:
        return self._write(destination, lambda tmp: tmp.write_bytes(data))

    def write_text(self, destination: str | os.PathLike[str], text: str) -> Path:
        return self._write(destination, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def write_json(self, destination: str | os.PathLike[str], obj: Any) -> Path:
        return self.write_text(destination, json_text(obj))

    def commit(self) -> None:
        for dest, tmp in self._pending.items():
            # mkstemp creates the file 0600; give the artifact the permissions a plain open() would.
            try:
                os.chmod(tmp, 0o666 & ~_UMASK)
                os.replace(tmp, dest)
            except OSError as exc:
                raise InputError(f"cannot write {os.fspath(dest)}: {os_error_cause(exc)}") from None
        self._pending.clear()

    def discard(self) -> None:
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()


@contextlib.contextmanager
def atomic_outputs() -> Iterator[OutputSet]:
    """An :class:`OutputSet` committed when the block ends normally, discarded on any exception."""
    outputs = OutputSet()
    try:
        yield outputs
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it over ``destination`` on success.

    On any exception the temporary file is removed and ``destination`` is left untouched.
    """
    with atomic_outputs() as outputs:
        yield outputs.path(destination)


def _max_name_length(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"


def write_bytes_atomic(destination: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_outputs() as outputs:
        return outputs.write_bytes(destination, data)


def write_text_atomic(destination: str | os.PathLike[str], text: str) -> Path:
    with atomic_outputs() as outputs:
        return outputs.write_text(destination, text)


def write_json_atomic(destination: str | os.PathLike[str], obj: Any) -> Path:
    return write_text_atomic(destination, json_text(obj))


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of an artifact: ``<name>.json`` beside it (``m.onnx.json``, ``m.engine.json``)."""
    return Path(os.fspath(artifact) + ".json")


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    inputs: Iterable[str | os.PathLike[str] | None],
    outputs: Mapping[str, str | os.PathLike[str] | None],
    *,
    input_sidecars: bool = True,
) -> None:
    """Refuse, before any work, an output that would overwrite an input, an input's sidecar or
    another output of the same run.

    ``outputs`` maps the option that names each destination (``"--report-json"``) to its path, so
    the error says which option to change. Links and different spellings of one path are caught.
    """
    protected: list[tuple[Path, str]] = []
    for item in inputs:
        if item is None:
            continue
        path = Path(item)
        protected.append((path, f"the input {os.fspath(path)}"))
        if input_sidecars:
            protected.append((sidecar_path(path), f"the sidecar of the input {os.fspath(path)}"))
    claimed: list[tuple[Path, str]] = []
    for option, item in outputs.items():
        if item is None:
            continue
        path = Path(item)
        for other, what in protected + claimed:
            if _same_file(path, other):
                raise InputError(
                    f"{option}: received {os.fspath(path)}, which is {what}; expected a different path"
                )
        claimed.append((path, f"also the destination of {option}"))


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
