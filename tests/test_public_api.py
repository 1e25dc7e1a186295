"""The lazy public API in edgeattn/__init__.py resolves every name it advertises, and the two
functions export and validate are never shadowed by a subpackage once everything is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edgeattn
from edgeattn.errors import InputError


@pytest.mark.parametrize("name", sorted(edgeattn._API))
def test_every_public_name_is_callable(name: str) -> None:
    assert callable(getattr(edgeattn, name))


def test_export_and_validate_are_functions_after_every_subpackage_is_imported(tmp_path) -> None:
    import edgeattn.bench  # noqa: F401
    import edgeattn.exporter  # noqa: F401
    import edgeattn.validation  # noqa: F401

    for _ in range(2):
        with pytest.raises(InputError, match="missing.onnx"):
            edgeattn.validate([tmp_path / "missing.onnx"])
        with pytest.raises(InputError, match="fold"):
            edgeattn.export("se_resnet_tiny", tmp_path / "x.onnx", fold="bogus")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        edgeattn.no_such_name  # noqa: B018


def test_import_does_not_load_torch_or_onnxruntime() -> None:
    code = "import sys, edgeattn, edgeattn.cli; print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_input_error_is_a_value_error() -> None:
    # Library users catching ValueError for bad arguments still catch ours.
    assert issubclass(InputError, ValueError)
