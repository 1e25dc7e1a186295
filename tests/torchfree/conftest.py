"""Fixtures for the torch-free tests: artifacts made where PyTorch is, commands run where it is not.

``scripts/test.sh`` writes the artifacts with the full install (make_artifacts.py) and points
EDGEATTN_TORCHFREE_ARTIFACTS at them before running this folder in a ``[cpu]``-only virtualenv.
In the full install the fixture makes them itself, and every command runs in a subprocess whose
import system refuses the modules the runtime install lacks, so both installs test the same thing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Not in `pip install "edgeattn[cpu]"`: importing any of them is a bug on the torch-free side.
ABSENT = ("torch", "torchvision", "timm", "onnxscript", "onnx_ir", "onnxsim", "safetensors",
          "onnxconverter_common", "PIL", "matplotlib", "openvino", "tensorrt", "sklearn")

# Runs the CLI with ABSENT unimportable, as in a runtime install (a no-op where they are missing).
_PRELUDE = """
import sys, importlib.abc
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
from edgeattn.cli import main
sys.argv = ['edgeattn'] + sys.argv[1:]
main()
"""


def run_cli(*args: object, cwd: Path | None = None, absent: tuple[str, ...] = ABSENT) -> subprocess.CompletedProcess[str]:
    """``edgeattn ARGS`` in a fresh interpreter without the modules in ``absent``."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("EDGEATTN_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE.format(absent=set(absent)), *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=600,
    )


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with digits.onnx, digits_int8.onnx, heldout.npz and data/heldout/ (see make_artifacts.py)."""
    given = os.environ.get("EDGEATTN_TORCHFREE_ARTIFACTS")
    if given:
        return Path(given)
    if importlib.util.find_spec("torch") is None:
        pytest.fail("no torch here to make the artifacts: run tests/torchfree/make_artifacts.py DIR with the full "
                    "install and set EDGEATTN_TORCHFREE_ARTIFACTS=DIR (scripts/test.sh does)")
    spec = importlib.util.spec_from_file_location("make_artifacts", HERE / "make_artifacts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("torchfree")
    module.main(out)
    return out


@pytest.fixture(scope="session")
def cli():
    """:func:`run_cli`, for the tests in this folder."""
    return run_cli
