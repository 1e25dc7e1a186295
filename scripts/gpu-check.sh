#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and TensorRT (x86 or Jetson), in under 10 minutes: FP32, FP16 and
# INT8 (Q/DQ) engines for se_resnet50 and cbam_resnet50, each compared with its ONNX on ONNX Runtime,
# timed with edgeattn's runner and with `trtexec --loadEngine` (when on PATH), checked by
# `polygraphy run --trt --onnxrt` (when installed), plus the `gpu`-marked tests. Writes
# OUT/summary.json and OUT/summary.md. Usage: bash scripts/gpu-check.sh [OUT] (default runs/gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu-check}"
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PYTHON" scripts/gpu_check.py "$OUT"
