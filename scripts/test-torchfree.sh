#!/usr/bin/env bash
# The runtime install for real: artifacts made with the full install (.venv, scripts/setup.sh), then
# tests/torchfree run in .venv-cpu, a virtualenv with `pip install -e ".[cpu]"` only (no PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv-cpu/bin/python ]; then
  "$PYTHON" -m venv .venv-cpu
fi
.venv-cpu/bin/python -m pip install -q --upgrade pip
.venv-cpu/bin/python -m pip install -q -e ".[cpu]" "pytest>=8"
if .venv-cpu/bin/python -c "import torch" 2>/dev/null; then
  echo "error: .venv-cpu has torch; the torch-free tests would prove nothing" >&2
  exit 1
fi
ARTIFACTS=$(mktemp -d)
trap 'rm -rf "$ARTIFACTS"' EXIT
.venv/bin/python tests/torchfree/make_artifacts.py "$ARTIFACTS"
EDGEATTN_TORCHFREE_ARTIFACTS="$ARTIFACTS" .venv-cpu/bin/python -m pytest -q -ra -p no:cacheprovider tests/torchfree
