#!/usr/bin/env bash
# Create .venv (once) and install edgeattn with everything the demo and the tests use.
# torch and torchvision are pinned: a loose `torch` can pull a multi-GB CUDA build, and timm needs
# a torchvision built for the same torch (see README, "Installing").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" -e ".[dev]"
# The Triton server for the serving tests (tests/serving, marked `serving`).
bash scripts/setup_triton.sh
