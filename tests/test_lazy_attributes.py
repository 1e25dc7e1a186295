"""lazy_attributes: the one way a package defers its public names (edgeattn, models, runtime, exporter, bench)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edgeattn
from edgeattn._lazy import lazy_attributes


def test_each_package_resolves_its_lazy_names_to_the_defining_module():
    import edgeattn.bench as bench
    import edgeattn.exporter as exporter
    import edgeattn.models as models
    import edgeattn.runtime as runtime
    from edgeattn.bench.profile import profile_blocks
    from edgeattn.exporter.onnx_export import ExportResult, export
    from edgeattn.models._registry import create_model
    from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner

    assert bench.profile_blocks is profile_blocks
    assert exporter.export is export and exporter.ExportResult is ExportResult
    assert models.create_model is create_model and edgeattn.create_model is create_model
    assert runtime.OnnxRuntimeRunner is OnnxRuntimeRunner
    for package in (edgeattn, bench, exporter, models, runtime):
        listed = dir(package)
        assert set(package.__all__) <= set(listed), package.__name__


@pytest.mark.parametrize("package", ["edgeattn", "edgeattn.models", "edgeattn.runtime", "edgeattn.exporter", "edgeattn.bench"])
def test_unknown_name_is_an_attribute_error_naming_the_package(package):
    import importlib

    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        importlib.import_module(package).nope  # noqa: B018


def test_importing_a_package_imports_none_of_its_lazy_modules():
    code = (
        "import sys, edgeattn.models, edgeattn.runtime, edgeattn.exporter;"
        "print(*(m in sys.modules for m in ('edgeattn.models._registry', 'edgeattn.runtime.torch_runner',"
        " 'edgeattn.exporter.onnx_export', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False", "False"]


def test_relative_and_absolute_module_names():
    getattr_, dir_ = lazy_attributes("edgeattn", {"format_bytes": ".platform.memory", "InputError": "edgeattn.errors"})
    from edgeattn.errors import InputError
    from edgeattn.platform.memory import format_bytes

    assert getattr_("format_bytes") is format_bytes and getattr_("InputError") is InputError
    assert {"format_bytes", "InputError", "__version__"} <= set(dir_())
