"""Export and quantize need Python >= 3.10; the runtime side runs on 3.8 (JetPack 5.1).

On 3.8 their extras install nothing (pyproject markers), so the error must name the Python version,
not only the extra. These tests run on every interpreter: below 3.10 for real, above it with the
threshold raised.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import edgeattn
from edgeattn import _lazy
from edgeattn.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def old_python(monkeypatch):
    """This interpreter counts as one older than the workstation minimum (as 3.8 does)."""
    monkeypatch.setattr(_lazy, "WORKSTATION_PYTHON", (sys.version_info[0], sys.version_info[1] + 1))


def test_quantize_below_3_10_is_one_error_before_any_work(old_python, tmp_path):
    out = tmp_path / "m_int8.onnx"
    with pytest.raises(MissingExtraError) as info:
        edgeattn.quantize(tmp_path / "missing.onnx", out, precision="int8")  # the missing input is not even looked at
    message = info.value.message
    assert "Python >= 3.10" in message and platform.python_version() in message and "\n" not in message
    assert "edgeattn[cpu,export]" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_sensitivity_below_3_10_is_refused_before_reading_calibration_data(old_python, tmp_path):
    from edgeattn.exporter.quantize.sensitivity import sensitivity

    with pytest.raises(MissingExtraError, match=r"quantize needs Python >= 3\.10"):
        sensitivity(tmp_path / "missing.onnx", tmp_path / "no_such_folder")


@pytest.mark.parametrize(("module", "extra"), [("torch", "export"), ("onnxconverter_common", "quantize"), ("timm", "thirdparty")])
def test_a_missing_workstation_module_below_3_10_names_the_python_version(old_python, module, extra):
    error = _lazy.missing_extra(ModuleNotFoundError(f"No module named {module!r}", name=module), "export")
    assert f"edgeattn[{extra}]" in error.message and "needs Python >= 3.10" in error.message
    assert platform.python_version() in error.message


def test_a_missing_runtime_module_below_3_10_names_only_its_extra(old_python):
    error = _lazy.missing_extra(ModuleNotFoundError("No module named 'PIL'", name="PIL"), "reading images")
    assert error.message == 'reading images needs Pillow, which is not installed: pip install "edgeattn[images]"'


def test_from_3_10_on_quantize_is_not_refused_for_its_python(tmp_path):
    if sys.version_info < (3, 10):
        with pytest.raises(MissingExtraError, match="Python >= 3.10"):
            _lazy.require_workstation("quantize")
    else:
        _lazy.require_workstation("quantize")  # returns: this interpreter is new enough
        error = _lazy.missing_extra(ModuleNotFoundError("No module named 'torch'", name="torch"), "export")
        assert error.message == 'export needs PyTorch, which is not installed: pip install "edgeattn[export]"'


def _extras() -> dict[str, list[Requirement]]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11: tomli (pytest's own dependency there)
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.8"
    return {name: [Requirement(r) for r in reqs] for name, reqs in project["optional-dependencies"].items()}


def test_pyproject_markers_match_the_workstation_extras():
    extras = _extras()
    assert _lazy.WORKSTATION_EXTRAS <= set(extras)
    for name, reqs in extras.items():
        if name in _lazy.WORKSTATION_EXTRAS:
            # every requirement is skipped on 3.8 and installed on 3.10
            assert all(r.marker is not None for r in reqs), name
            assert not any(r.marker.evaluate({"python_version": "3.8"}) for r in reqs), name
            assert all(r.marker.evaluate({"python_version": "3.10"}) for r in reqs), name
        elif name != "dev":  # dev: everything, the workstation extras with their markers
            assert all(r.marker is None for r in reqs), name  # installs on 3.8 as it is
