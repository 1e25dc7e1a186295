"""One temporary work folder per run, holding every scratch file of the run.

edgeattn's own work folders (``edgeattn-int8-*``, ``edgeattn-q-*``) and those of the libraries it
calls through :mod:`tempfile` (ONNX Runtime's ``ort.quant.*``) are created under
``<tmp>/edgeattn-run-<pid>-<random>``, removed when the run ends however it ends. A run killed
with SIGKILL cannot clean up; the next run recognises such folders by the dead process id in
their name and removes them. Versions before the per-run folder left ``edgeattn-int8-*`` and
``edgeattn-q-*`` directly in the temporary directory (up to 428 MB each after an interruption);
those untouched for a day are removed too. ONNX Runtime's own ``ort.quant.*`` folders at the top
level are left alone: nothing tells ours from another program's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PREFIX = "edgeattn-run-"
# Scratch folders that versions before the per-run folder created at the top level.
LEGACY_PREFIXES = ("edgeattn-int8-", "edgeattn-q-")
# An old-version run still in progress writes into its folder far more often than this.
LEGACY_MAX_AGE_S = 24 * 3600


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(base: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the run folders of processes that no longer exist; return what was removed."""
    removed: list[Path] = []
    root = Path(base if base is not None else tempfile.gettempdir())
    try:
        entries = list(root.glob(PREFIX + "*"))
    except OSError:
        return removed
    for entry in entries:
        pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    now = time.time()
    for prefix in LEGACY_PREFIXES:
        try:
            legacy = list(root.glob(prefix + "*"))
        except OSError:
            continue
        for entry in legacy:
            try:
                stale = entry.is_dir() and not entry.is_symlink() and now - entry.stat().st_mtime > LEGACY_MAX_AGE_S
            except OSError:
                continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextlib.contextmanager
def run_folder() -> Iterator[Path]:
    """Make :mod:`tempfile` create everything under a fresh per-run folder; remove it on exit.

    Nested uses share the outer folder.
    """
    current = tempfile.tempdir
    if current is not None and Path(current).name.startswith(f"{PREFIX}{os.getpid()}-"):
        yield Path(current)
        return
    base = tempfile.gettempdir()
    remove_stale(base)
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base)
    tempfile.tempdir = folder
    try:
        yield Path(folder)
    finally:
        tempfile.tempdir = current
        shutil.rmtree(folder, ignore_errors=True)
