#!/usr/bin/env bash
# The runtime side on Python 3.8 (JetPack 5.1 has no newer Python; README, "Installing"): .venv38,
# a virtualenv of this checkout with `pip install -e ".[cpu,images]"` (numpy, onnx and onnxruntime
# resolve to their last 3.8 releases; no PyTorch), runs the runtime subset: the CLI's torch-free
# commands (tests/torchfree, artifacts made with the full install), the TensorRT stand-in contract
# tests (doctor and build included), the runner, bench and data tests that need no torch, and the
# 3.8 checks. Tests in those folders that need torch skip themselves. PYTHON38 names the interpreter
# (default: python3.8 on PATH, else pyenv's newest 3.8). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_runtime_venv.sh
is_py38() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 8))' 2>/dev/null; }
if [ -z "${PYTHON38:-}" ]; then
  # python3.8 on PATH (may be a pyenv shim that is not active here), else pyenv's newest 3.8.
  for candidate in "$(command -v python3.8 || true)" \
      $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.8.*/bin/python 2>/dev/null | sort -rV); do
    if [ -n "$candidate" ] && is_py38 "$candidate"; then PYTHON38=$candidate; break; fi
  done
fi
if [ -z "${PYTHON38:-}" ] || ! is_py38 "$PYTHON38"; then
  echo "error: no Python 3.8 found (got '${PYTHON38:-}'): set PYTHON38=/path/to/python3.8" >&2
  exit 1
fi
if [ -x .venv38/bin/python ] && ! is_py38 .venv38/bin/python; then
  echo "error: .venv38 is not a Python 3.8 virtualenv: remove it and run again" >&2
  exit 1
fi
runtime_venv .venv38 "$PYTHON38" cpu,images
torchfree_artifacts
EDGEATTN_TORCHFREE_ARTIFACTS="$ARTIFACTS" .venv38/bin/python -m pytest -q -ra -p no:cacheprovider \
  tests/torchfree tests/tensorrt tests/bench tests/data tests/runtime \
  tests/test_io.py tests/test_python38_constructs.py tests/test_workstation_python.py "$@"
