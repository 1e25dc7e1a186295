"""Optional dependencies: which extra provides which module, and a one-line error when one is missing.

The runtime install (``pip install "edgeattn[cpu]"``) has no PyTorch; every command that needs a
module from another extra says which one to install instead of ending in a ModuleNotFoundError.
:func:`require` checks up front (before a long calibration or benchmark); :func:`missing_extra`
turns a ModuleNotFoundError raised deeper down into the same message (the CLI's error boundary).
:func:`lazy_attributes` is the one way a package defers importing its public names until use.
"""

from __future__ import annotations

import importlib
import platform
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .errors import MissingExtraError

# Top-level import name -> (what it is, the extra that installs it). Keep in step with pyproject.toml.
EXTRA_OF: dict[str, tuple[str, str]] = {
    "torch": ("PyTorch", "export"),
    "onnxscript": ("onnxscript", "export"),
    "onnx_ir": ("onnx-ir", "export"),
    "onnxsim": ("onnxsim", "export"),
    "safetensors": ("safetensors", "export"),
    "onnxconverter_common": ("onnxconverter-common", "quantize"),
    "PIL": ("Pillow", "images"),
    "timm": ("timm", "thirdparty"),
    "torchvision": ("torchvision", "thirdparty"),
    "matplotlib": ("matplotlib", "bench"),
    "openvino": ("OpenVINO", "bench"),
    "onnxruntime": ("ONNX Runtime", "cpu"),
}


# Extras that carry `python_version >= '3.10'` in pyproject.toml: export, quantize, folding and
# third-party models run on the workstation. On 3.8 (JetPack 5.1) pip installs nothing for them, so naming the
# extra alone would send the user in a circle.
WORKSTATION_EXTRAS = frozenset({"export", "fold", "quantize", "thirdparty"})
WORKSTATION_PYTHON = (3, 10)
WORKSTATION_HINT = 'on the workstation: pip install "edgeattn[cpu,export]", then copy the .onnx here'


def _error(module: str, purpose: str | None, extra: str | None = None) -> MissingExtraError:
    name, default = EXTRA_OF[module]
    extra = extra or default
    need = f"{purpose} needs {name}" if purpose else f"{name} is needed here"
    if extra in WORKSTATION_EXTRAS and sys.version_info < WORKSTATION_PYTHON:
        return MissingExtraError(
            f"{need} (edgeattn[{extra}]), which needs Python >= 3.10; this is Python {platform.python_version()}",
            hint=WORKSTATION_HINT,
        )
    return MissingExtraError(
        f"{need}, which is not installed: pip install \"edgeattn[{extra}]\"",
        hint=None if extra != "cpu" else 'on an NVIDIA machine install "edgeattn[gpu]" instead (never both)',
    )


def require(module: str, purpose: str | None = None, extra: str | None = None) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRA_OF`) or raise MissingExtraError naming its extra
    (``extra`` when a smaller extra than the module's own provides it: ``fold`` for onnx-ir)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != module:
            raise  # the module is there but one of its own dependencies is broken: keep the traceback
        raise _error(module, purpose, extra) from None


def require_workstation(command: str) -> None:
    """Raise MissingExtraError on Python < 3.10: ``command`` (quantize) runs on the workstation.

    JetPack 5.1 has Python 3.8 only; the runtime side (runners, build, validate, bench, inspect,
    doctor) runs there, export and quantize need 3.10 like their extras (pyproject.toml).
    """
    if sys.version_info < WORKSTATION_PYTHON:
        raise MissingExtraError(
            f"{command} needs Python >= 3.10 (edgeattn[{command}] runs on the workstation); "
            f"this is Python {platform.python_version()}",
            hint=WORKSTATION_HINT,
        )


def available(module: str) -> bool:
    """Whether ``module`` can be found, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the module, or a broken parent package
        return False


def check(module: str, purpose: str | None = None) -> None:
    """Raise MissingExtraError unless ``module`` is installed, without importing it (a slow import
    that is only needed at the end of a run, e.g. matplotlib for a chart)."""
    if not available(module):
        raise _error(module, purpose)


def missing_extra(exc: ModuleNotFoundError, purpose: str | None = None) -> MissingExtraError | None:
    """The MissingExtraError for a ModuleNotFoundError of a known optional module, else None."""
    top = (exc.name or "").split(".")[0]
    return _error(top, purpose) if top in EXTRA_OF else None


def lazy_attributes(package: str, where: Mapping[str, str]) -> tuple[Any, Any]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) that import each public name on first use.

    ``where`` maps a name to the module defining it (absolute, or relative to ``package``), so
    importing the package imports none of them: ``import edgeattn`` and the CLI start without
    PyTorch, and a missing optional backend is reported when its name is used. ``dir()`` lists the
    package's own names and the lazy ones. Use::

        __getattr__, __dir__ = lazy_attributes(__name__, {"export": ".onnx_export"})
    """
    table = dict(where)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
