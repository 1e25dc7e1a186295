# Sourced by scripts/test-torchfree.sh and scripts/test-py38.sh (run from the repository root):
# a runtime-only virtualenv built from this checkout, and the artifacts its tests read.

# runtime_venv DIR PYTHON EXTRAS: create DIR with PYTHON once, then (each run, a no-op when nothing
# changed) install this checkout editable with EXTRAS and pytest. Refuses a venv that has torch.
runtime_venv() {
  local dir=$1 python=$2 extras=$3
  if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q -e ".[$extras]" "pytest>=8"
  if "$dir/bin/python" -c "import torch" 2>/dev/null; then
    echo "error: $dir has torch; the torch-free tests would prove nothing" >&2
    return 1
  fi
}

# torchfree_artifacts: ARTIFACTS=a temporary folder (removed on exit) with what
# tests/torchfree/make_artifacts.py writes using the full install (.venv, scripts/setup.sh).
torchfree_artifacts() {
  ARTIFACTS=$(mktemp -d)
  trap 'rm -rf "$ARTIFACTS"' EXIT
  .venv/bin/python tests/torchfree/make_artifacts.py "$ARTIFACTS"
}
