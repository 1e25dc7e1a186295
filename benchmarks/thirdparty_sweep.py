"""Third-party sweep (issue 14): SE/CBAM models no one here wrote, through inspect, export, parity and INT8.

Every model is built with random weights (seed 0) and randomised BatchNorm statistics and affine
terms (``tests/exporter/research_blocks.randomise_batchnorm``: a model with default BN statistics
hides what folding BN into convs and INT8 ranges do to trained networks). Per model:

- **detected**: attention blocks ``edgeattn inspect`` lists (``find_attention_blocks``), by kind;
- per opset (18: dynamo exporter, 17: legacy exporter) **folded**: ``edgeattn::`` nodes the
  export wrote, and the fold warnings' count; opset 17 with a dynamic batch that fails is retried
  with a fixed batch of 8 (``--static-batch``) and marked so;
- **parity**: ONNX Runtime FP32 vs PyTorch on the evaluation images: max |diff| and relative L2
  (``||ort - torch|| / ||torch||``);
- **input dependence** of the FP32 output: distinct top-1 classes over the 64 images and the share
  of the logits' energy that varies with the input (``||z - mean_images(z)||^2 / ||z||^2``). Random
  weights often give a network whose output is almost a constant (torchvision's initialisation of
  MobileNetV3 / EfficientNet / RegNetY: depthwise convs with std sqrt(2 / (9 C)) shrink the signal
  until the randomised BN shifts are all that is left): for those, INT8 "agreement" is vacuous;
- **INT8** (opset 18 export by default, ``--int8-opsets``): ``edgeattn quantize`` defaults (minmax,
  ``ort-cpu`` target, gates kept FP32) calibrated on 64 CIFAR-10 training images, then top-1
  agreement and cosine (over all logits, as ``validate`` computes it) against the FP32 ONNX model
  on 64 other (test) images, the cosine of the input-dependent part (both minus the FP32 mean
  logits: what is left when the constant is taken out), and how many sigmoid-gated products
  quantize named as unprotected.

Images: ``examples/cifar10/slices.npz`` (real photos, 32x32), bilinearly upsampled to ``--size``
and normalised with the ImageNet mean/std; 64 calibration images (the committed calibration
slice, spread over the 10 classes) and 64 test images (the test slice, likewise).

The papers' own code comes from ``tests/exporter/research_blocks.py`` (re-implementations of
moskomule/senet.pytorch, Jongchan/attention-module and Cadene/pretrained-models.pytorch; timm's
``legacy_se*`` models are timm's port of pretrainedmodels' ``senet.py``).

    nice -n 10 .venv/bin/python benchmarks/thirdparty_sweep.py --size 128
    .venv/bin/python benchmarks/thirdparty_sweep.py --only timm:mobilenetv3_large_100 --no-write

Each model runs in its own subprocess (one at a time; a crash or ``--timeout`` costs that model
only). Prints a markdown table; writes ``benchmarks/results/thirdparty_sweep.{json,md}`` after
every model (a stopped run keeps what finished).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SLICES = ROOT / "examples" / "cifar10" / "slices.npz"
IMAGES = 64
OPSETS = (18, 17)
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)

# name -> (source, what it exercises). Cheap models first, so that a run cut short still covers
# most families.
MODELS: dict[str, str] = {
    "paper:senet.pytorch SELayer (TinyNet)": "senet.pytorch senet/se_module.py SELayer, 2 blocks",
    "paper:pretrainedmodels SEModule (TinyNet)": "Cadene pretrainedmodels/models/senet.py SEModule, 2 blocks",
    "paper:official CBAM (TinyNet)": "Jongchan/attention-module MODELS/cbam.py CBAM, 2 blocks",
    "timm:mobilenetv3_small_100": "hard-sigmoid SE, HardSwish",
    "timm:mobilenetv3_large_100": "hard-sigmoid SE, HardSwish (issue 14 item 10)",
    "torchvision:mobilenet_v3_small": "hard-sigmoid SE (ops.SqueezeExcitation)",
    "torchvision:mobilenet_v3_large": "hard-sigmoid SE (ops.SqueezeExcitation)",
    "timm:regnety_002": "SE in RegNetY",
    "torchvision:regnet_y_400mf": "SE in RegNetY",
    "timm:ghostnet_100": "hard-sigmoid SE",
    "timm:ghostnetv2_100": "SE + DFC attention (DFC not folded)",
    "timm:mixnet_s": "SE, mixed kernels",
    "timm:efficientnet_b0": "SiLU SE",
    "timm:tf_efficientnet_b0": "SiLU SE, TF padding",
    "torchvision:efficientnet_b0": "SiLU SE",
    "timm:rexnet_100": "SE with BN in the MLP",
    "timm:regnety_008": "SE in RegNetY",
    "torchvision:regnet_y_800mf": "SE in RegNetY",
    "timm:resnet18+cbam": "timm CbamModule",
    "timm:resnet18+lcbam": "timm LightCbamModule (another block: not folded)",
    "timm:resnet18+eca": "ECA (not SE: not folded)",
    "timm:resnet18+ecam": "ECA with max pool (not folded)",
    "timm:resnet18+gc": "global context (not folded)",
    "timm:resnet18+ese": "effective SE (hard-sigmoid, no reduction)",
    "timm:seresnet18": "timm SEModule",
    "timm:legacy_seresnet18": "pretrainedmodels SENet port",
    "paper:senet.pytorch se_resnet18": "senet.pytorch senet/se_resnet.py se_resnet18",
    "timm:skresnet18": "selective kernel (not folded)",
    "timm:hrnet_w18_small": "no attention; BN-folding identity case (issue 14 item 1)",
    "timm:ecaresnet26t": "ECA (not folded)",
    "timm:seresnext26d_32x4d": "SE, grouped convs",
    "timm:legacy_seresnext26_32x4d": "pretrainedmodels SENet port",
    "torchvision:efficientnet_v2_s": "SiLU SE, fused MBConv",
    "timm:seresnet50": "timm SEModule",
    "timm:legacy_seresnet50": "pretrainedmodels SENet port",
    "paper:senet.pytorch se_resnet50": "senet.pytorch senet/se_resnet.py se_resnet50",
    "timm:resnet50+cbam": "timm CbamModule",
    "paper:official CBAM ResNet-50": "Jongchan/attention-module MODELS/model_resnet.py, CBAM",
    "timm:seresnext50_32x4d": "SE, grouped convs",
}


def _research() -> Any:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.exporter import research_blocks

    return research_blocks


def build(name: str) -> Any:
    """The model ``name`` with random weights (seed 0) and randomised BatchNorm statistics."""
    import torch

    rb = _research()
    torch.manual_seed(0)
    kind, _, target = name.partition(":")
    if kind == "timm":
        import timm

        base, _, attn = target.partition("+")
        kwargs = {"block_args": {"attn_layer": attn}} if attn else {}
        model = timm.create_model(base, **kwargs)
    elif kind == "torchvision":
        import torchvision

        model = getattr(torchvision.models, target)()
    else:
        factories: dict[str, Callable[[], Any]] = {
            "senet.pytorch SELayer (TinyNet)": lambda: rb.TinyNet(rb.SELayer, reduction=4),
            "pretrainedmodels SEModule (TinyNet)": lambda: rb.TinyNet(rb.SEModule, reduction=4),
            "official CBAM (TinyNet)": lambda: rb.TinyNet(rb.CBAM, reduction_ratio=4),
            "senet.pytorch se_resnet18": rb.senet_pytorch_se_resnet18,
            "senet.pytorch se_resnet50": rb.senet_pytorch_se_resnet50,
            "official CBAM ResNet-50": rb.official_cbam_resnet50,
        }
        model = factories[target]()
    return rb.randomise_batchnorm(model.eval(), seed=0)


def images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, evaluation) arrays [64, 3, size, size]: CIFAR-10 photos, upsampled, normalised."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    data = np.load(SLICES)

    def pick(split: str) -> np.ndarray:
        blob, offsets = data[f"{split}_bytes"], data[f"{split}_offsets"]
        count = len(offsets) - 1
        chosen = np.linspace(0, count - 1, IMAGES).round().astype(int)  # every class, in order
        pixels = []
        for i in chosen:
            with Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())) as image:
                pixels.append(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
        x = torch.from_numpy(np.stack(pixels).transpose(0, 3, 1, 2).copy())
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).numpy()
        return ((x - MEAN) / STD).astype(np.float32)

    return pick("calibration"), pick("test")


def _ort(path: Path, x: np.ndarray, batch: int) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a shared 2-core machine: one thread, one model at a time
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run_one(name: str, size: int, opsets: tuple[int, ...], int8_opsets: tuple[int, ...]) -> dict[str, Any]:
    """Everything measured for one model (run in a subprocess by ``main``)."""
    import torch

    from edgeattn.exporter import export
    from edgeattn.exporter.quantize import quantize
    from edgeattn.models.attention_scan import count_by_kind, find_attention_blocks

    torch.set_num_threads(1)
    started = time.perf_counter()
    model = build(name)
    calib, evals = images(size)
    blocks = find_attention_blocks(model)
    row: dict[str, Any] = {"model": name, "size": size, "detected": count_by_kind(blocks), "opsets": {}}
    with torch.no_grad():
        reference = torch.cat([model(torch.from_numpy(evals[i:i + 8])) for i in range(0, IMAGES, 8)]).numpy()
    row["fp32_classes"] = len(set(np.argmax(reference, 1).tolist()))
    row["input_share"] = float(np.sum((reference - reference.mean(0)) ** 2) / np.sum(reference ** 2))
    with tempfile.TemporaryDirectory(prefix="edgeattn-sweep-") as tmp:
        for opset in opsets:
            entry: dict[str, Any] = {}
            row["opsets"][str(opset)] = entry
            onnx_path = Path(tmp) / f"m{opset}.onnx"
            batch = 8
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        result = export(model, onnx_path, input_shape=(1, 3, size, size), opset=opset, max_batch=8, check=False)
                        entry["batch"] = "dynamic"
                    except Exception as exc:  # noqa: BLE001 - the sweep records, the user's export refuses
                        if opset != 17:
                            raise
                        entry["dynamic_batch_error"] = str(exc).splitlines()[0][:300]
                        result = export(model, onnx_path, input_shape=(8, 3, size, size), opset=opset,
                                        dynamic_batch=False, check=False)
                        entry["batch"] = "static 8"
            except Exception as exc:  # noqa: BLE001
                entry["error"] = f"export: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                continue
            entry["export_s"] = round(time.perf_counter() - t0, 1)
            entry["folded"] = dict(result.fold.counts)
            entry["fold_warnings"] = list(result.fold.warnings)
            fp32 = _ort(onnx_path, evals, batch)
            entry["max_abs"] = float(np.max(np.abs(fp32 - reference)))
            entry["rel_l2"] = float(np.linalg.norm(fp32 - reference) / np.linalg.norm(reference))
            if opset not in int8_opsets:
                continue
            q_path = Path(tmp) / f"m{opset}.int8.onnx"
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    q = quantize(onnx_path, q_path, "int8", calib, num_calibration=None, progress=False,
                                 use_cache=False, calibration_batch_size=batch)
            except Exception as exc:  # noqa: BLE001
                entry["int8_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                continue
            entry["quantize_s"] = round(time.perf_counter() - t0, 1)
            out = _ort(q_path, evals, batch)
            entry["int8_top1_agreement"] = float(np.mean(np.argmax(out, 1) == np.argmax(fp32, 1)))
            entry["int8_cosine"] = _cosine(out, fp32)
            entry["int8_cosine_centered"] = _cosine(out - fp32.mean(0), fp32 - fp32.mean(0))
            entry["int8_unprotected_gates"] = len(q.settings.get("unprotected_gates") or [])
            entry["int8_gate_paths"] = len(q.settings.get("gate_paths") or [])
            entry["int8_warnings"] = list(q.warnings)
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def _counts(counts: dict[str, int]) -> str:
    short = {"SqueezeExcite": "SE", "ChannelAttention": "CA", "SpatialAttention": "SA",
             "LightChannelAttention": "LCA", "LightSpatialAttention": "LSA"}
    return " ".join(f"{n} {short.get(k, k)}" for k, n in sorted(counts.items())) or "0"


def table(rows: list[dict[str, Any]], opsets: tuple[int, ...], int8_opsets: tuple[int, ...]) -> str:
    head = ["model", "detected", *(f"folded o{o}" for o in opsets), *(f"max abs / rel L2 o{o}" for o in opsets),
            "FP32 classes / input share", *(f"INT8 o{o}: top-1 / cos / centred cos" for o in int8_opsets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['error']} |" + " |" * (len(head) - 2))
            continue
        entries = {o: row["opsets"].get(str(o), {}) for o in opsets}
        cells = [row["model"], _counts(row["detected"])]
        for o in opsets:
            e = entries[o]
            static = " (static batch)" if e.get("batch") == "static 8" else ""
            cells.append(e["error"][:80] if "error" in e else _counts(e.get("folded", {})) + static)
        for o in opsets:
            e = entries[o]
            cells.append(f"{e['max_abs']:.2g} / {e['rel_l2']:.1e}" if "rel_l2" in e else "")
        cells.append(f"{row['fp32_classes']} / {row['input_share']:.1e}")
        for o in int8_opsets:
            e = entries.get(o, {})
            if "int8_cosine" in e:
                extra = f", {e['int8_unprotected_gates']} unprotected" if e.get("int8_unprotected_gates") else ""
                cells.append(f"{e['int8_top1_agreement']:.0%} / {e['int8_cosine']:.4f} / "
                             f"{e['int8_cosine_centered']:.3f}{extra}")
            else:
                cells.append(e.get("int8_error", "")[:80])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_description() -> str:
    """The CPU model and whether it has AVX2, AVX-512 and VNNI (ONNX Runtime's INT8 kernels differ)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    features = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return f"{model}, {os.cpu_count()} logical CPUs, flags: {' '.join(features) or 'no AVX2'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="input height = width (default 128)")
    parser.add_argument("--only", action="append", help="run this model (repeatable); default: all")
    parser.add_argument("--opsets", default="18,17")
    parser.add_argument("--int8-opsets", default="18", help="exports quantized to INT8 ('' for none; default 18)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per model")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model, print its JSON row
    args = parser.parse_args(argv)
    opsets = tuple(int(o) for o in args.opsets.split(","))
    int8_opsets = tuple(int(o) for o in args.int8_opsets.split(",") if o)
    if args.one:
        print("SWEEP-ROW " + json.dumps(run_one(args.one, args.size, opsets, int8_opsets)))
        return 0
    names = args.only or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    meta = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_description(),
            "size": args.size, "opsets": list(opsets), "int8_opsets": list(int8_opsets), "images": IMAGES, "python": platform.python_version(),
            "command": shlex.join(["python", "benchmarks/thirdparty_sweep.py", *(argv or sys.argv[1:])])}
    versions = {}
    for package in ("torch", "onnx", "onnxruntime", "timm", "torchvision"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # noqa: BLE001
            versions[package] = None
    meta["versions"] = versions
    rows: list[dict[str, Any]] = []
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--size", str(args.size), "--opsets", args.opsets,
               "--int8-opsets", args.int8_opsets]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
            line = next((l for l in proc.stdout.splitlines() if l.startswith("SWEEP-ROW ")), None)
            if line is None:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                row = {"model": name, "error": f"exit {proc.returncode}: {tail[:200]}"}
            else:
                row = json.loads(line[len("SWEEP-ROW "):])
        except subprocess.TimeoutExpired:
            row = {"model": name, "error": f"timed out after {args.timeout:.0f} s"}
        rows.append(row)
        print(f"[{time.perf_counter() - t0:6.0f} s] {name}", file=sys.stderr, flush=True)
        if not args.no_write:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "thirdparty_sweep.json").write_text(json.dumps({**meta, "models": rows}, indent=1) + "\n")
            (RESULTS / "thirdparty_sweep.md").write_text(_markdown(meta, rows, opsets, int8_opsets))
    print(_markdown(meta, rows, opsets, int8_opsets))
    return 0


def _markdown(meta: dict[str, Any], rows: list[dict[str, Any]], opsets: tuple[int, ...], int8_opsets: tuple[int, ...]) -> str:
    return (f"Third-party sweep, {meta['date']}, {meta['cpu']}; input {meta['size']}x{meta['size']}, "
            f"{meta['images']} CIFAR-10 images (upsampled); `{meta['command']}`\n\n{table(rows, opsets, int8_opsets)}\n")


if __name__ == "__main__":
    sys.exit(main())
