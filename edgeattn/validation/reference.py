"""Which PyTorch model an artifact is compared against, when the user does not name one.

An artifact records the source it was exported from (its provenance, :mod:`edgeattn.artifact`). Artifacts travel
between machines and people like checkpoints do, so that record is untrusted input: loading a
``file.py:factory`` or ``package.module:factory`` source imports and runs Python, and a saved
model file is unpickled. Registry names and ``timm:``/``torchvision:`` sources build an
architecture from installed code only and are used as recorded. Anything else runs only when the
user opts in (``trust_provenance``), and then only

- a file whose sha256 is the one recorded at export (the file that was exported, not whatever
  now sits at that path), found at its recorded absolute path or, when the artifact and the file
  moved together, at the recorded path relative to the artifact, or
- ``module:factory`` of an installed third-party distribution (never the standard library, never
  a module that resolves into the working directory, where an attacker may have put one).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ContextManager

from .._io import sha256_file
from ..artifact import is_file, recorded_file
from ..errors import ParityError, UntrustedSourceError
from ..models.source_spec import SourceSpec, parse_source

_NAME_MODEL = "pass --model (and --checkpoint) to name the PyTorch model to compare against"


def resolve_reference(
    provenance: Mapping[str, Any] | None,
    artifact: str | os.PathLike[str],
    *,
    trust_provenance: bool = False,
) -> str:
    """The model source recorded in ``provenance``, checked as the module docstring says.

    Raises :class:`ParityError` when nothing usable is recorded and :class:`UntrustedSourceError`
    when the recorded source would run code that was not allowed.
    """
    name = os.fspath(artifact)
    source = (provenance or {}).get("source")
    if not isinstance(source, str) or not source:
        raise ParityError(f"{name} records no source model (no edgeattn provenance recorded)", hint=_NAME_MODEL)
    spec = parse_source(source)
    if spec.runs_user_code:
        source = _trusted_source(spec, provenance or {}, name, trust_provenance)
    return source


def refuse_unexported(provenance: Mapping[str, Any] | None, artifact: str | os.PathLike[str]) -> None:
    """A file ``edgeattn fold`` made from a third-party ONNX records the file it came from, no PyTorch
    model: name that file as the reference instead of asking for PyTorch."""
    prov = provenance or {}
    folded_from = prov.get("folded_from")
    if prov.get("source") or not isinstance(folded_from, Mapping):
        return
    path = folded_from.get("path")
    shown = f"--reference {path}" if isinstance(path, str) and path else "--reference ORIGINAL.onnx"
    raise ParityError(
        f"{os.fspath(artifact)} was folded by edgeattn fold from an ONNX file and records no PyTorch model; "
        f"expected a reference to compare against",
        hint=f"pass {shown} (the file it was folded from), or --model",
    )


def _trusted_source(spec: SourceSpec, provenance: Mapping[str, Any], artifact: str, trust: bool) -> str:
    what = "imports and runs" if spec.kind != "file" else "unpickles or loads"
    if not trust:
        raise UntrustedSourceError(
            f"{artifact} names its model as {spec.text!r}, which {what} code; refusing to run what an artifact names",
            hint=_NAME_MODEL + ", or add --trust-provenance to run the recorded source when it checks out",
        )
    if spec.kind == "module_factory":
        problem = _module_problem(spec.target)
        if problem:
            raise UntrustedSourceError(
                f"{artifact} names its model as {spec.text!r}: {problem}; --trust-provenance runs only a "
                "module:factory of an installed package",
                hint=_NAME_MODEL,
            )
        return spec.text
    raw_record = provenance.get("source_file")
    record: Mapping[str, Any] = raw_record if isinstance(raw_record, Mapping) else {}
    recorded_sha = record.get("sha256")
    if not isinstance(recorded_sha, str) or not recorded_sha:
        raise UntrustedSourceError(
            f"{artifact} names its model as {spec.text!r} but records no sha256 of that file; expected one to "
            "check it against (artifacts exported before edgeattn recorded it)",
            hint=_NAME_MODEL,
        )
    located, same = recorded_file(record, artifact)
    if located is None and spec.path is not None:
        # Artifacts that record no relative path: the source's own spelling, from the artifact's folder.
        beside = spec.path if spec.path.is_absolute() else Path(artifact).parent / spec.path
        located = beside if is_file(beside) else None
        same = located is not None and sha256_file(located) == recorded_sha
    if located is None:
        raise ParityError(f"the model file recorded in {artifact} is missing: {spec.target}", hint=_NAME_MODEL)
    if not same:
        actual = sha256_file(located)
        raise UntrustedSourceError(
            f"{located} has changed since {artifact} was exported (sha256 {actual[:12]}..., recorded "
            f"{recorded_sha[:12]}...); refusing to run it",
            hint=_NAME_MODEL,
        )
    if spec.kind == "file_factory":
        return f"{located}:{spec.factory}"
    return os.fspath(located)


def reference_pins(provenance: Mapping[str, Any] | None, source: str) -> ContextManager[None]:
    """While loading ``source`` (as :func:`resolve_reference` returned it), run only the recorded bytes
    of a ``file.py:factory`` file and of the sibling modules it imports (``source_modules``)."""
    spec = parse_source(source)
    record = (provenance or {}).get("source_file")
    digest = record.get("sha256") if isinstance(record, Mapping) else None
    if spec.kind != "file_factory" or spec.path is None or not isinstance(digest, str):
        return contextlib.nullcontext()
    from ..models.file_imports import pinned_source

    modules = (provenance or {}).get("source_modules")
    recorded = {k: v for k, v in modules.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(modules, Mapping) else {}
    return pinned_source(spec.path, digest, recorded)


def _module_problem(module: str) -> str | None:
    """Why ``module`` is not an installed third-party package's module (None when it is).

    Decided without importing it (finding a top-level name only searches). The loader puts
    the working directory first on ``sys.path`` (as ``python -m`` does), so a module there would
    shadow the installed one: the module must be found at the same place without it.
    """
    top = module.split(".")[0]
    if top in getattr(sys, "stdlib_module_names", ()) or top in sys.builtin_module_names:
        return f"{top} is part of Python's standard library"
    if top not in _distribution_packages():
        return f"{top} is not an installed distribution's package"
    cwd = os.getcwd()
    as_loaded = _origin(top, [cwd, *sys.path])
    installed = _origin(top, [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) != cwd])
    if installed is None:
        return f"{top} is not an installed distribution's package"
    if as_loaded != installed:
        return f"{top} would be loaded from {as_loaded}, not from the installed package at {installed}"
    return None


def _distribution_packages() -> set[str]:
    """Top-level import names of the installed distributions.

    importlib.metadata.packages_distributions() (Python 3.10+) where it exists; on 3.8/3.9 the same
    rule it implements: a distribution's ``top_level.txt``, else the first folder (or the module
    name) of each ``.py`` file it installed.
    """
    found = getattr(importlib.metadata, "packages_distributions", None)
    if found is not None:
        return set(found())
    names: set[str] = set()
    for dist in importlib.metadata.distributions():
        declared = (dist.read_text("top_level.txt") or "").split()
        inferred = {f.parts[0] if len(f.parts) > 1 else f.stem for f in dist.files or () if f.suffix == ".py"}
        names.update(declared or inferred)
    return names


def _origin(top: str, search_path: list[str]) -> str | None:
    """Where the import system would find ``top`` with ``search_path`` as ``sys.path``.

    Asks the meta-path finders in import order (editable installs register one), giving the path
    finder ``search_path``; ``importlib.util.find_spec`` is not used because it answers from
    ``sys.modules`` for a module some other code has already imported.
    """
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            found = importlib.machinery.PathFinder.find_spec(top, search_path)
        else:
            find_spec = getattr(finder, "find_spec", None)
            found = find_spec(top, None) if find_spec is not None else None
        if found is not None:
            return found.origin or next(iter(found.submodule_search_locations or []), None)
    return None


def recorded_checkpoint(provenance: Mapping[str, Any], artifact: str | os.PathLike[str]) -> str | None:
    """The recorded checkpoint (weights, loaded with ``weights_only``), where it was or beside the
    artifact when both moved together; warns when it has changed since export."""
    record = provenance.get("checkpoint")
    if not isinstance(record, Mapping) or not record.get("path"):
        return None
    located, same = recorded_file(record, artifact)
    if located is None:
        raise ParityError(
            f"the checkpoint recorded in {os.fspath(artifact)} is missing: {record['path']}",
            hint="pass --checkpoint with the file's current location (or --no-recorded-checkpoint)",
        )
    sha = record.get("sha256")
    if isinstance(sha, str) and sha and not same:
        warnings.warn(
            f"checkpoint {located} has changed since export (sha256 differs from the provenance)",
            RuntimeWarning,
            stacklevel=3,
        )
    return os.fspath(located)
