"""The TensorRT package sits on the platform layer and nothing below imports upwards into it.

Reads every module's imports from its source (``ast``), so a function-local import counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import edgeattn

ROOT = Path(edgeattn.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute names of the edgeattn modules ``path`` imports (relative imports resolved)."""
    package = ".".join(("edgeattn", *path.relative_to(ROOT).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("edgeattn"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("edgeattn"):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names)
    return out


def _modules(package: str) -> dict[str, set[str]]:
    folder = ROOT.joinpath(*package.split(".")[1:])
    return {str(p.relative_to(ROOT)): _imports(p) for p in sorted(folder.rglob("*.py"))}


def _offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in _modules(package).items()
        for name in sorted(names)
        if name.startswith(forbidden)
    ]


def test_platform_imports_no_runner_builder_or_command():
    forbidden = tuple(f"edgeattn.{p}" for p in ("runtime", "tensorrt", "exporter", "validation", "bench", "cli", "models", "layers"))
    assert _offending("edgeattn.platform", forbidden) == []


def test_tensorrt_package_imports_nothing_above_it():
    forbidden = tuple(f"edgeattn.{p}" for p in ("exporter", "validation", "bench", "cli"))
    assert _offending("edgeattn.tensorrt", forbidden) == []


def test_runtime_and_exporter_do_not_import_the_tensorrt_package():
    # The runtime's backend registry names the TensorRT runner as a string, imported on demand.
    for package in ("edgeattn.runtime", "edgeattn.exporter"):
        assert _offending(package, ("edgeattn.tensorrt",)) == []


def test_no_module_imports_another_packages_private_module():
    problems = []
    for package in ("edgeattn.tensorrt", "edgeattn.platform", "edgeattn.runtime", "edgeattn.bench", "edgeattn.cli"):
        for module, names in _modules(package).items():
            own = package
            for name in names:
                private = any(part.startswith("_") and part != "__init__" for part in name.split(".")[1:])
                if private and not name.startswith(own + ".") and not name.startswith("edgeattn._"):
                    problems.append(f"{module} imports {name}")
    assert problems == []


def test_exporter_and_validation_share_the_comparison_from_below():
    # export's parity check and validate call one edgeattn.compare.compare_output; neither
    # package imports the other for it.
    assert _offending("edgeattn.exporter", ("edgeattn.validation",)) == []
    assert _offending("edgeattn.validation", ("edgeattn.exporter",)) == []
    compare = _imports(ROOT / "compare.py")
    assert compare <= {"edgeattn.errors", "edgeattn.errors.InputError"}
