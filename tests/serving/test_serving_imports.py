"""edgeattn.serving sits below the CLI, and its Python-backend model files import nothing at
module level that exists only outside Triton's stub environment (edgeattn loads in initialize)."""

from __future__ import annotations

import ast
from pathlib import Path

import edgeattn

SERVING = Path(edgeattn.__file__).parent / "serving"


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_serving_does_not_import_the_cli():
    offending = []
    for path in SERVING.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "from ..cli" in text or "edgeattn.cli" in text:
            offending.append(path.name)
    assert offending == []


def test_python_backend_models_import_only_what_the_stub_has_at_module_level():
    for name in ("runner_model.py", "preprocess_model.py"):
        imports = _top_level_imports(SERVING / "python_models" / name)
        assert imports <= {"io", "json", "os", "sys", "numpy", "triton_python_backend_utils"}, (name, imports)
