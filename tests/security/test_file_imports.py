"""A file.py:factory source runs only the files recorded at export, byte for byte (issue 13 item 1):
siblings are pinned by sha256, bytecode caches are ignored, unrecorded modules in the folder are refused."""

from __future__ import annotations

import hashlib
import os
import py_compile
import sys
import uuid
from pathlib import Path

import pytest

from edgeattn.errors import UntrustedSourceError
from edgeattn.models.file_imports import folder_modules, load_pinned_file, pinned_imports


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def folder(tmp_path: Path):
    """A model folder with a unique sibling module name; sys.path and sys.modules restored after."""
    name = f"helper_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    (tmp_path / "model.py").write_text(f"import {name}\n\ndef create():\n    return {name}.VALUE\n")
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path, name
    sys.path[:] = saved_path
    for added in set(sys.modules) - saved_modules:
        sys.modules.pop(added, None)


def _fresh(name: str) -> None:
    sys.modules.pop(name, None)


def test_export_records_the_sibling_modules_with_their_digest(folder) -> None:
    path, name = folder
    __import__(name)
    recorded = folder_modules(path)
    assert recorded == {f"{name}.py": _sha(path / f"{name}.py")}  # edgeattn, pytest, the venv: not recorded


def test_a_recorded_unchanged_sibling_imports(folder) -> None:
    path, name = folder
    recorded = {f"{name}.py": _sha(path / f"{name}.py")}
    with pinned_imports(path, recorded):
        assert __import__(name).VALUE == 1


def test_a_changed_sibling_is_refused(folder) -> None:
    path, name = folder
    recorded = {f"{name}.py": _sha(path / f"{name}.py")}
    (path / f"{name}.py").write_text("VALUE = 666\n")
    with pinned_imports(path, recorded), pytest.raises(UntrustedSourceError, match="has changed since the artifact"):
        __import__(name)


def test_a_module_dropped_beside_the_source_is_refused(folder) -> None:
    path, name = folder
    shadow = f"shadow_{uuid.uuid4().hex[:8]}"
    (path / f"{shadow}.py").write_text("import os; os.environ['EDGEATTN_PWNED'] = '1'\n")
    with pinned_imports(path, {}), pytest.raises(UntrustedSourceError, match="did not record it"):
        __import__(shadow)
    assert "EDGEATTN_PWNED" not in os.environ


def test_installed_modules_import_as_usual_inside_the_guard(folder) -> None:
    path, _ = folder
    with pinned_imports(path, {}):
        import email.mime.text  # noqa: F401 - stdlib, outside the folder


def test_bytecode_cache_is_ignored(folder) -> None:
    path, name = folder
    source = path / f"{name}.py"
    # A __pycache__ entry compiled from other source of the same size and mtime: CPython checks a
    # .pyc only against the source's mtime and size, so the plain import runs the cached code.
    source.write_text("VALUE = 2\n")
    planted = source.stat()
    py_compile.compile(str(source), doraise=True)
    source.write_text("VALUE = 1\n")
    os.utime(source, ns=(planted.st_atime_ns, planted.st_mtime_ns))
    assert __import__(name).VALUE == 2  # what an unpinned load would run
    _fresh(name)
    with pinned_imports(path, {f"{name}.py": _sha(source)}):
        assert __import__(name).VALUE == 1


def test_the_main_file_loads_only_with_its_recorded_digest(folder) -> None:
    path, _ = folder
    model = path / "model.py"
    module = load_pinned_file(model, _sha(model), f"edgeattn_user_{uuid.uuid4().hex[:8]}")
    assert callable(module.create)
    with pytest.raises(UntrustedSourceError, match="has changed"):
        load_pinned_file(model, "0" * 64, f"edgeattn_user_{uuid.uuid4().hex[:8]}")
