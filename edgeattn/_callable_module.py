"""Packages that double as the public function of the same name.

``edgeattn.export`` and ``edgeattn.validate`` are both subpackages and public API functions. Once
a subpackage is imported, Python binds the parent's attribute to the package, shadowing the lazily
imported function; making the package callable keeps ``edgeattn.export(...)`` and
``edgeattn.validate(...)`` working however they were reached.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_package_callable(package: str, module: str, function: str) -> None:
    """Calling package ``package`` calls ``function`` from ``module`` (imported on first call)."""

    class _CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module), function)(*args, **kwargs)

    _CallablePackage.__call__.__doc__ = f"Call {module}.{function}."
    sys.modules[package].__class__ = _CallablePackage
