"""The trained digits example: real accuracy of FP32 vs FP16 vs INT8 on held-out data.

The CBAM/SE network (examples/digits/model.py, committed checkpoint) is loaded through the
``path/file.py:factory`` source, exported with folded attention blocks, converted, and run on
ONNX Runtime CPU over the 450 held-out images written by ``train.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"


def _train_module():
    spec = importlib.util.spec_from_file_location("digits_train", EXAMPLE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(fp32 onnx, train folder, held-out samples, workdir)."""
    from edgeattn.data import Preprocessing, load_samples
    from edgeattn.exporter import export

    work = tmp_path_factory.mktemp("digits")
    train_dir, heldout_dir = _train_module().export_data(work / "data")
    onnx_path = work / "digits.onnx"
    export(f"{EXAMPLE / 'model.py'}:create", onnx_path, checkpoint=EXAMPLE / "digits_cbam.safetensors")
    held = load_samples(heldout_dir, input_size=(1, 32, 32), preprocessing=Preprocessing.from_onnx(onnx_path))
    return onnx_path, train_dir, held, work


def _logits(path: Path, arrays: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: arrays[i : i + 32]})[0] for i in range(0, len(arrays), 32)])


def _stats(logits: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    cos = (logits * reference).sum(1) / (np.linalg.norm(logits, axis=1) * np.linalg.norm(reference, axis=1))
    return {
        "accuracy": float((logits.argmax(1) == labels).mean()),
        "agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
        "mean_abs_err": float(np.abs(logits - reference).mean()),
        "min_cosine": float(cos.min()),
    }


def test_data_export_is_the_fixed_split(tmp_path):
    train_dir, heldout_dir = _train_module().export_data(tmp_path)
    assert sorted(p.name for p in heldout_dir.iterdir()) == [str(d) for d in range(10)]
    assert sum(1 for _ in heldout_dir.rglob("*.png")) == 450
    assert sum(1 for _ in train_dir.rglob("*.png")) == 1347


def test_fp32_checkpoint_is_really_trained(digits):
    onnx_path, _, held, _ = digits
    fp32 = _logits(onnx_path, held.arrays)
    assert (fp32.argmax(1) == held.labels).mean() >= 0.97


def test_int8_and_fp16_keep_accuracy(digits):
    from edgeattn.exporter.quantize import quantize

    onnx_path, train_dir, held, work = digits
    fp32 = _logits(onnx_path, held.arrays)
    acc32 = float((fp32.argmax(1) == held.labels).mean())
    rows = {}
    for name, kwargs in {
        "fp16": {"precision": "fp16"},
        "int8": {"precision": "int8", "calibration": train_dir},  # --attention-policy gate
        "int8 --attention-policy fp32": {"precision": "int8", "calibration": train_dir, "attention": "fp32"},
        "int8 --quantize-attention": {"precision": "int8", "calibration": train_dir, "quantize_attention": True},
    }.items():
        out = work / f"{name.replace(' ', '_')}.onnx"
        quantize(onnx_path, out, num_calibration=256, cache_dir=work / "cache", progress=False, **kwargs)
        rows[name] = _stats(_logits(out, held.arrays), fp32, held.labels)
    print(f"\nFP32 accuracy {acc32:.4f}")
    for name, row in rows.items():
        print(f"{name:28s} " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()))
    assert rows["int8"]["accuracy"] >= acc32 - 0.01
    assert rows["int8"]["agreement"] >= 0.98 and rows["int8 --attention-policy fp32"]["agreement"] >= 0.98
    assert rows["fp16"]["agreement"] >= 0.99 and rows["fp16"]["mean_abs_err"] < 0.01
    assert rows["int8 --quantize-attention"]["agreement"] >= 0.9  # runs and stays a classifier


def test_model_source_loads_the_checkpoint():
    import torch

    from edgeattn.models import load_model
    from edgeattn.models.attention_scan import find_attention_blocks

    loaded = load_model(f"{EXAMPLE / 'model.py'}:create", EXAMPLE / "digits_cbam.safetensors")
    model = loaded.module
    # The example's pretrained_cfg (1x32x32 gray, its own mean/std) travels with it.
    assert loaded.input.input_size == (1, 32, 32) and loaded.input.mean == (0.25,)
    assert loaded.checkpoint_report is not None
    kinds = [b.kind for b in find_attention_blocks(model)]
    assert kinds == ["SqueezeExcite", "ChannelAttention", "SpatialAttention"]
    assert not model.training and model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_plain_export_gate_paths_are_found(digits):
    """--fold none (a third-party style graph): the policy finds the three gates by pattern."""
    from edgeattn.exporter import export
    from edgeattn.exporter.quantize import quantize

    _, train_dir, held, work = digits
    plain = work / "digits_plain.onnx"
    export(f"{EXAMPLE / 'model.py'}:create", plain, checkpoint=EXAMPLE / "digits_cbam.safetensors", fold="none")
    result = quantize(plain, work / "digits_plain_int8.onnx", "int8", train_dir, num_calibration=128,
                      cache_dir=work / "cache", progress=False, attention="fp32")
    assert [p["kind"] for p in result.settings["gate_paths"]] == ["SqueezeExcite", "ChannelAttention", "SpatialAttention"]
    assert all(not p["folded"] for p in result.settings["gate_paths"])
    kept = [n for n in result.nodes if "attention-aware" in n.reason]
    assert {n.op_type for n in kept} >= {"Sigmoid", "Mul", "Conv", "ReduceMean", "ReduceMax"}
    fp32, int8 = _logits(plain, held.arrays), _logits(work / "digits_plain_int8.onnx", held.arrays)
    assert (int8.argmax(1) == fp32.argmax(1)).mean() >= 0.98
