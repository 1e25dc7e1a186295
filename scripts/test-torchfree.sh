#!/usr/bin/env bash
# The runtime install for real: artifacts made with the full install (.venv, scripts/setup.sh), then
# tests/torchfree run in .venv-cpu, a virtualenv with `pip install -e ".[cpu]"` only (no PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_runtime_venv.sh
runtime_venv .venv-cpu "${PYTHON:-python3}" cpu
torchfree_artifacts
EDGEATTN_TORCHFREE_ARTIFACTS="$ARTIFACTS" .venv-cpu/bin/python -m pytest -q -ra -p no:cacheprovider tests/torchfree
