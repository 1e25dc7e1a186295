#!/usr/bin/env bash
# Lint and type check: ruff (pyflakes, bugbear, pyupgrade to Python 3.8 syntax, complexity <= 15)
# over the repository, then mypy over the edgeattn package. Both are configured in pyproject.toml
# ([tool.ruff], [tool.mypy]); .pre-commit-config.yaml runs the same two commands. Fails on the
# first finding. Under a minute on two cores (mypy's first run, without its cache, is most of it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV_BIN:-.venv/bin}
"$BIN/ruff" check --no-cache .
"$BIN/mypy"
