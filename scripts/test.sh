#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the whole test suite on the CPU. GPU tests skip cleanly here.
# With no arguments, tests/torchfree then runs in a [cpu]-only virtualenv (scripts/test-torchfree.sh)
# instead of in the full install.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest -n 2 -ra "$@"
fi
.venv/bin/python -m pytest -n 2 -ra --ignore=tests/torchfree
exec bash scripts/test-torchfree.sh
