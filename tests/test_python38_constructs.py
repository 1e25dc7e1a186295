"""The runtime side stays importable and callable on Python 3.8 (JetPack 5.1 has no newer Python).

scripts/test-py38.sh runs the runtime subset on a real 3.8 interpreter; this check runs on every
interpreter (3.11 in CI included) and names the construct, file and line, so a 3.9+ idiom is caught
where it is written, also in a module or branch the 3.8 subset does not reach. It looks for what
3.8 rejects at run time although it parses (everything here is valid syntax on 3.11):

- PEP 585 generics (``list[int]``, ``collections.abc.Callable[...]``, ``re.Pattern[str]``) and PEP 604
  unions (``int | None``) where they are evaluated: type aliases, ``isinstance``/``issubclass``,
  ``cast``, base classes, default values, and annotations in a module without
  ``from __future__ import annotations`` (with it, annotations stay strings: PEP 563);
- 3.9+/3.10+ library calls and parameters (``str.removeprefix``, ``functools.cache``,
  ``zip(strict=)``, ``dataclass(slots=/kw_only=)``, ``importlib.resources.files``,
  ``Path.is_relative_to``, ``dict | dict``, ``typing.TypeAlias``, ...);
- syntax newer than 3.8 that ``ast.parse(feature_version=(3, 8))`` knows (``match``,
  parenthesized context managers, ``except*``).

Scope: every module of the package except the workstation-only ones below (they import PyTorch,
onnxscript or onnx-ir at the top and need Python >= 3.10 like the ``export`` extra). The CLI
modules are included, their annotations checked as evaluated even under ``from __future__ import
annotations``: Typer reads them with ``typing.get_type_hints`` at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgeattn"

# Need Python >= 3.10 (workstation side: export, folding, PyTorch models and layers) or run inside
# another interpreter (Triton's Python backend ships its own).
WORKSTATION_ONLY = (
    "exporter/fold/",
    "exporter/onnx_export.py",
    "exporter/simplify.py",
    "layers/",
    "models/",
    "serving/python_models/",
)

BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}
# Classes that became subscriptable in 3.9 (PEP 585), reached as module.Name or imported by name.
STDLIB_GENERICS = {
    "collections.abc": {
        "Awaitable", "Coroutine", "AsyncIterable", "AsyncIterator", "AsyncGenerator", "Iterable", "Iterator",
        "Generator", "Reversible", "Container", "Collection", "Callable", "Set", "MutableSet", "Mapping",
        "MutableMapping", "Sequence", "MutableSequence", "ByteString", "MappingView", "KeysView", "ItemsView",
        "ValuesView",
    },
    "collections": {"deque", "defaultdict", "OrderedDict", "Counter", "ChainMap"},
    "re": {"Pattern", "Match"},
    "os": {"PathLike", "DirEntry"},
    "subprocess": {"CompletedProcess", "Popen"},
    "queue": {"Queue", "SimpleQueue", "LifoQueue", "PriorityQueue"},
    "contextlib": {"AbstractContextManager", "AbstractAsyncContextManager"},
    "concurrent.futures": {"Future"},
    "weakref": {"ref", "WeakSet", "WeakKeyDictionary", "WeakValueDictionary"},
}
BUILTIN_TYPES = {"int", "float", "complex", "str", "bytes", "bytearray", "bool", "object", "list", "dict", "tuple",
                 "set", "frozenset", "type", "memoryview"}
# typing names added after 3.8 (typing_extensions has them all).
TYPING_NEWER = {"Annotated", "TypeAlias", "ParamSpec", "Concatenate", "TypeGuard", "Self", "Never", "LiteralString",
                "assert_never", "assert_type", "reveal_type", "Required", "NotRequired", "Unpack", "TypeVarTuple",
                "dataclass_transform", "override", "TypeIs", "ReadOnly", "get_overloads", "is_typeddict"}
# Methods added in 3.9+ whose names no 3.8 type in this code base has.
METHODS_NEWER = {
    "removeprefix": "str.removeprefix (3.9)", "removesuffix": "str.removesuffix (3.9)",
    "is_relative_to": "Path.is_relative_to (3.9)", "with_stem": "Path.with_stem (3.9)",
    "hardlink_to": "Path.hardlink_to (3.10)", "bit_count": "int.bit_count (3.10)",
    "add_note": "BaseException.add_note (3.11)",
}
MODULE_ATTRS_NEWER = {
    ("functools", "cache"): "3.9", ("importlib.resources", "files"): "3.9", ("importlib.resources", "as_file"): "3.9",
    ("itertools", "pairwise"): "3.10", ("math", "lcm"): "3.9", ("math", "nextafter"): "3.9", ("math", "ulp"): "3.9",
    ("random", "randbytes"): "3.9", ("asyncio", "to_thread"): "3.9", ("ast", "unparse"): "3.9",
    ("inspect", "get_annotations"): "3.10", ("sys", "orig_argv"): "3.10", ("sys", "stdlib_module_names"): "3.10",
    ("sys", "platlibdir"): "3.9", ("enum", "StrEnum"): "3.11", ("datetime", "UTC"): "3.11",
    ("contextlib", "chdir"): "3.11", ("contextlib", "aclosing"): "3.10", ("hashlib", "file_digest"): "3.11",
    ("importlib.metadata", "packages_distributions"): "3.10", ("dataclasses", "KW_ONLY"): "3.10",
    ("os", "waitstatus_to_exitcode"): "3.9", ("statistics", "correlation"): "3.10",
    ("statistics", "covariance"): "3.10", ("statistics", "linear_regression"): "3.10",
    ("operator", "call"): "3.11", ("typing", "TypeAlias"): "3.10",
}
MODULES_NEWER = {"zoneinfo": "3.9", "graphlib": "3.9", "tomllib": "3.11"}
# Keyword arguments added after 3.8.
KEYWORDS_NEWER = {
    ("zip", "strict"): "3.10", ("dataclass", "slots"): "3.10", ("dataclass", "kw_only"): "3.10",
    ("dataclass", "match_args"): "3.10", ("dataclass", "weakref_slot"): "3.11", ("field", "kw_only"): "3.10",
    ("bisect", "key"): "3.10", ("bisect_left", "key"): "3.10", ("bisect_right", "key"): "3.10",
    ("insort", "key"): "3.10", ("write_text", "newline"): "3.10", ("entry_points", "group"): "3.10",
    ("entry_points", "name"): "3.10",
}


# Typer reads command signatures with typing.get_type_hints, which evaluates every annotation even
# under `from __future__ import annotations`: there they count as evaluated.
EVALUATED_ANNOTATIONS = ("cli/",)


def runtime_modules() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    return [f for f in files if not f.relative_to(PACKAGE).as_posix().startswith(WORKSTATION_ONLY)]


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, postponed: bool) -> None:
        self.postponed = postponed
        self.problems: list[tuple[int, str]] = []
        # local name -> dotted origin, from imports ("Callable" -> "collections.abc.Callable").
        self.origin: dict[str, str] = {}

    def _say(self, node: ast.AST, text: str) -> None:
        self.problems.append((node.lineno, text))

    # -- names and imports ------------------------------------------------------------------
    def _resolve(self, node: ast.AST) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.origin.get(head, head)
        return f"{base}.{rest}" if rest else base

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in MODULES_NEWER:
                self._say(node, f"module {alias.name} is new in {MODULES_NEWER[alias.name.split('.')[0]]}")
            self.origin[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and module.split(".")[0] in MODULES_NEWER:
            self._say(node, f"module {module} is new in {MODULES_NEWER[module.split('.')[0]]}")
        for alias in node.names:
            if node.level == 0 and module == "typing" and alias.name in TYPING_NEWER:
                self._say(node, f"typing.{alias.name} is new after 3.8 (import it from typing_extensions)")
            if node.level == 0 and (module, alias.name) in MODULE_ATTRS_NEWER:
                self._say(node, f"{module}.{alias.name} is new in {MODULE_ATTRS_NEWER[module, alias.name]}")
            if node.level == 0:
                self.origin[alias.asname or alias.name] = f"{module}.{alias.name}"

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self._resolve(node)
        if full:
            module, _, attr = full.rpartition(".")
            if (module, attr) in MODULE_ATTRS_NEWER:
                self._say(node, f"{full} is new in {MODULE_ATTRS_NEWER[module, attr]}")
            if module == "typing" and attr in TYPING_NEWER:
                self._say(node, f"typing.{attr} is new after 3.8 (use typing_extensions)")
        if node.attr in METHODS_NEWER:
            self._say(node, f"{METHODS_NEWER[node.attr]} is new after 3.8")
        self.generic_visit(node)

    # -- calls ------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        short = name.rpartition(".")[2] if name else None
        for kw in node.keywords:
            if kw.arg and (short, kw.arg) in KEYWORDS_NEWER:
                self._say(node, f"{short}({kw.arg}=...) is new in {KEYWORDS_NEWER[short, kw.arg]}")
        if short in {"isinstance", "issubclass"} and len(node.args) == 2:
            self._type_expr(node.args[1], f"{short}()'s second argument")
        if short == "cast" and node.args:
            self._type_expr(node.args[0], "cast()'s type")
        self.generic_visit(node)

    # -- where type expressions are evaluated ----------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        # An alias such as `Shape = tuple[int, ...]` or `PathLike = str | Path` is evaluated.
        self._type_expr(node.value, "an evaluated expression", only_if_typey=True)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if not self.postponed and not self._in_function:
            self._type_expr(node.annotation, "an annotation (no `from __future__ import annotations`)")
        if node.value is not None:
            self._type_expr(node.value, "an evaluated expression", only_if_typey=True)
        self.generic_visit(node)

    _in_function = False

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Annotations are evaluated at definition time unless postponed; defaults and decorators always.
        if not self.postponed:
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None and arg.annotation is not None:
                    self._type_expr(arg.annotation, "an annotation (no `from __future__ import annotations`)")
            if node.returns is not None:
                self._type_expr(node.returns, "an annotation (no `from __future__ import annotations`)")
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self._type_expr(expr, "an evaluated expression", only_if_typey=True)
                self.visit(expr)
        outer, self._in_function = self._in_function, True
        for stmt in node.body:
            self.visit(stmt)
        self._in_function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            self._type_expr(base, "a base class")
        for dec in node.decorator_list:
            self.visit(dec)
        for stmt in node.body:
            self.visit(stmt)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.BitOr) and any(isinstance(s, (ast.Dict, ast.DictComp)) for s in (node.left, node.right)):
            self._say(node, "dict | dict is new in 3.9 (use {**a, **b})")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.BitOr) and isinstance(node.value, (ast.Dict, ast.DictComp)):
            self._say(node, "dict |= dict is new in 3.9 (use .update())")
        self.generic_visit(node)

    # -- the type-expression test -----------------------------------------------------------
    def _generic(self, node: ast.AST) -> str | None:
        """The PEP 585 class a subscript ``node`` parametrizes, or None."""
        if not isinstance(node, ast.Subscript):
            return None
        if isinstance(node.value, ast.Name) and node.value.id in BUILTIN_GENERICS and node.value.id not in self.origin:
            return node.value.id
        full = self._resolve(node.value)
        if full:
            module, _, attr = full.rpartition(".")
            if attr in STDLIB_GENERICS.get(module, ()):
                return full
        return None

    def _is_typey(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and node.value is None:
            return True
        if isinstance(node, ast.Name) and (node.id in BUILTIN_TYPES or (node.id[:1].isupper() and not node.id.isupper())):
            return True
        if self._generic(node):
            return True
        if isinstance(node, ast.Subscript):
            full = self._resolve(node.value) or ""
            return full.startswith(("typing.", "typing_extensions."))
        return False

    def _type_expr(self, node: ast.AST, where: str, only_if_typey: bool = False) -> None:
        """Flag PEP 585 generics and PEP 604 unions in ``node``, an expression Python evaluates.

        ``only_if_typey``: ``node`` is any expression (an assignment's value), so ``a | b`` counts
        only when a side is plainly a type (None, a builtin type, a generic, a CapWords class name);
        elsewhere (isinstance, annotations, bases) every ``|`` is a union.
        """
        for sub in ast.walk(node):
            generic = self._generic(sub)
            if generic:
                self._say(sub, f"{generic}[...] in {where} is evaluated: subscripting it needs 3.9 (use typing.*)")
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr):
                if not only_if_typey or any(self._is_typey(side) for side in (sub.left, sub.right)):
                    self._say(sub, f"X | Y in {where} is evaluated: a union needs 3.10 (use typing.Union/Optional or a tuple)")


def check_source(source: str, filename: str = "<string>", *, annotations_evaluated: bool = False) -> list[tuple[int, str]]:
    """(line, problem) for each construct in ``source`` that fails on Python 3.8.

    ``annotations_evaluated``: something evaluates the annotations at run time (Typer), so
    ``from __future__ import annotations`` does not make them safe.
    """
    problems: list[tuple[int, str]] = []
    try:
        ast.parse(source, filename, feature_version=(3, 8))
    except SyntaxError as exc:
        return [(exc.lineno or 0, f"syntax newer than 3.8: {exc.msg}")]
    tree = ast.parse(source, filename)
    postponed = not annotations_evaluated and any(
        isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__" and any(a.name == "annotations" for a in stmt.names)
        for stmt in tree.body
    )
    checker = _Checker(postponed)
    checker.visit(tree)
    return sorted(set(problems + checker.problems))


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("Shape = tuple[int, ...]\n", "tuple[...]"),
        ("from collections.abc import Callable\nHook = Callable[[int], None]\n", "collections.abc.Callable[...]"),
        ("import re\nP = re.Pattern[str]\n", "re.Pattern[...]"),
        ("from pathlib import Path\nPathLike = str | Path\n", "X | Y"),
        ("def f(x):\n    return isinstance(x, int | str)\n", "isinstance()'s second argument"),
        ("def f(x: list[int]) -> None: ...\n", "annotation (no `from __future__"),
        ("def f(x: int | None) -> None: ...\n", "annotation (no `from __future__"),
        ("class A(dict[str, int]): ...\n", "a base class"),
        ("x = 'ab'.removeprefix('a')\n", "str.removeprefix"),
        ("import functools\n@functools.cache\ndef f(): ...\n", "functools.cache"),
        ("from functools import cache\n", "functools.cache is new"),
        ("for a, b in zip([1], [2], strict=True): ...\n", "zip(strict=...)"),
        ("from dataclasses import dataclass\n@dataclass(slots=True)\nclass A: ...\n", "dataclass(slots=...)"),
        ("from dataclasses import dataclass\n@dataclass(frozen=True, kw_only=True)\nclass A: ...\n", "dataclass(kw_only=...)"),
        ("import importlib.resources\nf = importlib.resources.files('edgeattn')\n", "importlib.resources.files"),
        ("from pathlib import Path\nok = Path('a/b').is_relative_to('a')\n", "Path.is_relative_to"),
        ("d = {'a': 1} | {'b': 2}\n", "dict | dict"),
        ("from typing import TypeAlias\n", "typing.TypeAlias"),
        ("from typing import ParamSpec\n", "typing.ParamSpec"),
        ("from typing import Annotated\n", "typing.Annotated"),
        ("match 1:\n    case 1:\n        pass\n", "syntax newer than 3.8"),
        ("import tomllib\n", "module tomllib"),
    ],
)
def test_the_check_finds_each_construct(source, found):
    problems = check_source(source)
    assert any(found in text for _, text in problems), problems


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations\ndef f(x: list[int] | None) -> dict[str, int]: ...\n",
        "from __future__ import annotations\nfrom dataclasses import dataclass\n@dataclass\nclass A:\n    x: int | None = None\n",
        "from typing import Dict, Optional, Tuple, Union\nShape = Tuple[int, ...]\nMaybe = Optional[Dict[str, int]]\n",
        "def f(x):\n    return isinstance(x, (int, str))\n",
        "flags = 1 | 2\nmode = flags | 4\n",
        "import os\nFLAGS = os.O_WRONLY | os.O_CREAT\n",
        "d = {**{'a': 1}, **{'b': 2}}\n",
        "import functools\n@functools.lru_cache(maxsize=None)\ndef f(): ...\n",
        "from typing_extensions import Annotated, ParamSpec\n",
        "def f(items):\n    x: list[int] = items\n    return x\n",
        "x = [1, 2][0]\nd = {'a': 1}['a']\n",
    ],
)
def test_the_check_passes_what_3_8_runs(source):
    assert check_source(source) == []


def test_annotations_typer_evaluates_are_checked_despite_postponed_annotations():
    source = "from __future__ import annotations\nfrom typing import Optional\ndef command(names: Optional[list[str]] = None): ...\n"
    assert check_source(source) == []
    assert any("list[...]" in text for _, text in check_source(source, annotations_evaluated=True))


def test_the_runtime_side_has_nothing_that_fails_on_python_3_8():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in runtime_modules()
        for line, text in check_source(
            path.read_text(encoding="utf-8"), str(path),
            annotations_evaluated=path.relative_to(PACKAGE).as_posix().startswith(EVALUATED_ANNOTATIONS),
        )
    ]
    assert not found, "\n".join(found)


def test_the_workstation_only_list_names_real_paths():
    # A renamed folder must not silently widen the exemption or drop modules from the check.
    for entry in WORKSTATION_ONLY + EVALUATED_ANNOTATIONS:
        assert (PACKAGE / entry).exists(), entry
    assert len(runtime_modules()) > 50
