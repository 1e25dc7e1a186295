#!/usr/bin/env bash
# The Triton Inference Server that the serving tests and benchmarks start (docs/serving.md):
#  - .triton/: the nvidia-pytriton wheel unpacked with --no-deps, for its tritonserver binary,
#    Python backend and Python-backend stubs (the package itself pins numpy<2, so it stays out of
#    .venv);
#  - .triton/stub-venv: a virtual environment of .venv's own interpreter with numpy<2, where the
#    Python-backend stub runs (its NumPy bridge is built for NumPy 1; edgeattn.serving.server).
# Idempotent; needs .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TRITON_HOME=.triton
PY=${EDGEATTN_PYTHON:-.venv/bin/python}  # the interpreter edgeattn runs under
if [ ! -x "$TRITON_HOME/pytriton/tritonserver/bin/tritonserver" ]; then
  "$PY" -m pip install -q --no-deps --target "$TRITON_HOME" "nvidia-pytriton==0.7.0"
fi
if [ ! -x "$TRITON_HOME/stub-venv/bin/python3" ]; then
  # A venv made by the venv's python is based on the same base interpreter (same libpython).
  "$PY" -m venv "$TRITON_HOME/stub-venv"
  "$TRITON_HOME/stub-venv/bin/python" -m pip install -q "numpy>=1.24,<2"
fi
