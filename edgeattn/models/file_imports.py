"""The Python files a ``file.py:factory`` model source runs, recorded at export and pinned at validate.

A ``file.py:factory`` source runs that file and whatever it imports from its own folder (research
code keeps its blocks in sibling modules). The export records each of those files with its
sha256 (:func:`folder_modules`). When an artifact's recorded source is run again
(``--trust-provenance``), :func:`pinned_imports` makes every import that resolves into that folder
load exactly the recorded bytes: the file is read once, hashed and compiled from those bytes (no
``__pycache__`` bytecode, which could differ from a source whose hash matches), and a module in
the folder that was not recorded — one dropped beside the file to shadow ``numpy``, say — is
refused. Modules outside the folder (installed packages) import as usual.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import UntrustedSourceError


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _environment_roots() -> list[Path]:
    """Where installed code lives: the interpreter's prefixes and edgeattn's own package. A model
    folder may contain a virtualenv or a checkout of edgeattn; neither is the model's code."""
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots.add(Path(__file__).resolve().parents[1])  # the edgeattn package
    return sorted(roots)


def _is_installed_code(path: Path, roots: list[Path]) -> bool:
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return True
    return any(_inside(path, root) for root in roots)


def folder_modules(folder: str | os.PathLike[str], *, exclude: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """``{path relative to folder: sha256}`` of every imported module whose file lies in ``folder``."""
    root = Path(folder).resolve()
    skip = Path(exclude).resolve() if exclude is not None else None
    roots = _environment_roots()
    found: dict[str, str] = {}
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if not isinstance(origin, str) or not origin.endswith(".py"):
            continue
        path = Path(origin).resolve()
        if path == skip or not _inside(path, root) or _is_installed_code(path, roots) or not path.is_file():
            continue
        found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(found.items()))


class _PinnedLoader(importlib.abc.Loader):
    """Runs a source file only if its bytes hash to the recorded digest; compiles those bytes."""

    def __init__(self, path: Path, digest: str) -> None:
        self.path = path
        self.digest = digest

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        source = self.path.read_bytes()
        actual = hashlib.sha256(source).hexdigest()
        if actual != self.digest:
            raise UntrustedSourceError(
                f"{self.path} has changed since the artifact was exported (sha256 {actual[:12]}..., "
                f"recorded {self.digest[:12]}...); refusing to run it"
            )
        module.__file__ = str(self.path)
        exec(compile(source, str(self.path), "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - pinned bytes


class _PinnedFolderFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: modules that resolve into ``folder`` load only as recorded."""

    def __init__(self, folder: Path, recorded: Mapping[str, str]) -> None:
        self.folder = folder
        self.recorded = dict(recorded)
        self.roots = _environment_roots()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.origin or not spec.has_location:
            return None
        origin = Path(spec.origin).resolve()
        if not _inside(origin, self.folder) or _is_installed_code(origin, self.roots):
            return None  # installed packages and the standard library import as usual
        relative = origin.relative_to(self.folder).as_posix()
        digest = self.recorded.get(relative)
        if digest is None or origin.suffix != ".py":
            raise UntrustedSourceError(
                f"refusing to import {name} from {origin}: the export did not record it (placed beside the "
                "model source since, or the artifact predates recorded sibling modules)",
                hint="pass --model (and --checkpoint) to name the PyTorch model yourself, or re-export",
            )
        pinned = importlib.util.spec_from_loader(name, _PinnedLoader(origin, digest), origin=str(origin))
        if pinned is not None and spec.submodule_search_locations is not None:
            pinned.submodule_search_locations = spec.submodule_search_locations
        return pinned


@contextlib.contextmanager
def pinned_imports(folder: str | os.PathLike[str], recorded: Mapping[str, str]) -> Iterator[None]:
    """Within the block, imports from ``folder`` load only the recorded files, unchanged."""
    finder = _PinnedFolderFinder(Path(folder).resolve(), recorded)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


def load_pinned_file(path: str | os.PathLike[str], digest: str, module_name: str) -> ModuleType:
    """Import the file at ``path`` as ``module_name`` from bytes that hash to ``digest`` (no bytecode cache)."""
    file = Path(path).resolve()
    spec = importlib.util.spec_from_loader(module_name, _PinnedLoader(file, digest), origin=str(file))
    assert spec is not None and spec.loader is not None  # spec_from_loader with a loader always returns one
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


@dataclass(frozen=True)
class _Pin:
    main: Path
    digest: str


_ACTIVE_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("edgeattn_active_pin", default=None)


@contextlib.contextmanager
def pinned_source(main: str | os.PathLike[str], digest: str, modules: Mapping[str, str]) -> Iterator[None]:
    """Within the block, loading the ``file.py:factory`` source ``main`` runs exactly the recorded
    bytes of it (:func:`active_pin`) and of the sibling modules it imports (:func:`pinned_imports`)."""
    path = Path(main).resolve()
    token = _ACTIVE_PIN.set(_Pin(path, digest))
    try:
        with pinned_imports(path.parent, modules):
            yield
    finally:
        _ACTIVE_PIN.reset(token)


def active_pin(path: str | os.PathLike[str]) -> str | None:
    """The recorded sha256 the file at ``path`` must have now, when a :func:`pinned_source` covers it."""
    pin = _ACTIVE_PIN.get()
    return pin.digest if pin is not None and pin.main == Path(path).resolve() else None
