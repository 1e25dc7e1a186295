"""The builder's timing cache file: read, attach, and write back merged under a file lock.

``IBuilderConfig.create_timing_cache`` returns ``None`` for a blob it cannot read (docs/tensorrt.md
F13): we then start an empty cache and say so. A cache "can be shared by multiple builder
instances", so two builds may use one file at once: the result is written under an exclusive
lock on ``<cache>.lock``, after combining what another build wrote meanwhile
(``ITimingCache.combine``), then atomically renamed into place.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import write_bytes_atomic


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<path>.lock`` (POSIX ``flock``; no lock elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass
class TimingCache:
    """One build's use of a timing cache file."""

    path: Path
    ignore_mismatch: bool
    cache: Any = None  # kept alive until the build ends
    initial: bytes = b""
    status: str = "created"
    warnings: list[str] = field(default_factory=list)

    def attach(self, config: Any) -> None:
        """Read the file (if any), create the cache and set it on ``config``."""
        self.initial = self.path.read_bytes() if self.path.is_file() else b""
        self.cache = config.create_timing_cache(self.initial)
        if self.cache is None:
            self.warnings.append(f"timing cache {self.path} could not be read; starting an empty one")
            self.cache, self.status = config.create_timing_cache(b""), "replaced"
        elif config.set_timing_cache(self.cache, ignore_mismatch=self.ignore_mismatch):
            self.status = "reused" if self.initial else "created"
            return
        else:
            # A cache from another GPU or TensorRT version: start from an empty one.
            self.warnings.append(f"timing cache {self.path} does not match this device/TensorRT; starting a new one")
            self.cache, self.status = config.create_timing_cache(b""), "replaced"
        config.set_timing_cache(self.cache, ignore_mismatch=False)

    def save(self, config: Any) -> None:
        """Combine with what another build wrote since :meth:`attach`, then write atomically."""
        ours = config.get_timing_cache()
        with file_lock(self.path):
            on_disk = self.path.read_bytes() if self.path.is_file() else b""
            if on_disk and on_disk != self.initial:
                theirs = config.create_timing_cache(on_disk)
                if theirs is None or not ours.combine(theirs, self.ignore_mismatch):
                    self.warnings.append(
                        f"timing cache {self.path} was rewritten by another build for another device/TensorRT; replaced"
                    )
            write_bytes_atomic(self.path, bytes(ours.serialize()))

    def close(self) -> None:
        self.cache = None


def timing_cache_for(path: str | os.PathLike[str] | None, ignore_mismatch: bool) -> TimingCache | None:
    return TimingCache(Path(os.fspath(path)), bool(ignore_mismatch)) if path else None
