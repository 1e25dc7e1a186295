#!/usr/bin/env bash
# The main job end to end on the embedded default (ONNX Runtime on the CPU), on a real trained model:
# a CBAM network trained on scikit-learn's handwritten digits (examples/digits, checkpoint committed).
#   inspect -> export (attention folded into edgeattn:: functions) -> FP16 + INT8 (calibrated on
#   real images) -> validate all three against PyTorch on held-out images with labels -> benchmark.
# Everything lands in runs/demo/ (reports in Markdown and JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
OUT=runs/demo
MODEL=examples/digits/model.py:create
CKPT=examples/digits/digits_cbam.safetensors
DATA=examples/digits/data
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Write the digits images (train = calibration, heldout = validation with labels)"
[ -d "$DATA/heldout" ] || python examples/digits/train.py --data-only

step "Inspect the model and its attention blocks"
edgeattn inspect "$MODEL" -c "$CKPT"

step "Export to ONNX with the attention blocks folded"
edgeattn export "$MODEL" -c "$CKPT" -o "$OUT/digits.onnx"

step "FP16 and INT8 (explicit Q/DQ, each attention gate and its scaling multiply in FP32, calibrated on the training images)"
edgeattn quantize "$OUT/digits.onnx" --precision fp16 -o "$OUT/digits_fp16.onnx"
edgeattn quantize "$OUT/digits.onnx" --precision int8 --calibration "$DATA/train" -o "$OUT/digits_int8.onnx"

step "Validate every artifact against PyTorch on the held-out images (accuracy side by side)"
# The reference model is examples/digits/model.py:create, recorded in the artifacts' provenance;
# running a recorded file needs --trust-provenance (and its sha256 must still be the recorded one).
edgeattn validate "$OUT/digits.onnx" "$OUT/digits_fp16.onnx" "$OUT/digits_int8.onnx" --trust-provenance \
  --inputs "$DATA/heldout" -n 450 --batch-size 50 \
  --report-md "$OUT/validate.md" --report-json "$OUT/validate.json"

step "Benchmark PyTorch and the three ONNX artifacts side by side, with per-block attention cost"
edgeattn bench "$MODEL" "$OUT/digits.onnx" "$OUT/digits_fp16.onnx" "$OUT/digits_int8.onnx" \
  --checkpoint "$CKPT" --threads 2 --iterations 200 --per-block \
  --report-md "$OUT/bench.md" --report-json "$OUT/bench.json"

step "Done: artifacts and reports in $OUT/"
ls -l "$OUT"
