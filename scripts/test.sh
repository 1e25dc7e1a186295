#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the whole test suite on the CPU. GPU tests skip cleanly here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 -ra "$@"
