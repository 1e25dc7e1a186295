"""Accuracy of FP32 / FP16 / INT8 variants of the trained CIFAR-10 examples on the 10,000 test images.

For each network of ``examples/cifar10`` (committed checkpoint): PyTorch FP32, ONNX Runtime FP32
(the folded export), FP16, INT8 under each policy

- ``--attention-policy gate``: edgeattn's default: only the gate's Sigmoid / HardSigmoid and the scaling
  Mul stay FP32, pooling and FC / 7x7 conv go to INT8,
- ``--attention-policy fp32``: the whole SE/CBAM gate path stays FP32 (the default until these
  measurements),
- ``--attention-policy int8`` (``--quantize-attention``): everything INT8,
- ``ort defaults``: ``onnxruntime.quantization.quantize_static`` with its default arguments on the
  unfolded export after ``quant_pre_process`` (what a user gets from ORT without any policy),

each with every calibration method (minmax, entropy, percentile) on 500 training images, and
the three edgeattn policies also with minmax on 100 and 2,000 training images (``--full-grid``: all
four; ``--sizes``: other sizes; ORT's histogram calibrators, entropy and percentile, keep every
activation of every calibration batch in memory, several GB for 2,000 images, while minmax keeps
only per-batch minima and maxima); plus OpenVINO INT8 made by ``nncf.quantize`` from
the same (unfolded) ONNX and the same 500 calibration images. Calibration sets are the first
k/10 images of every class of the training split (500 = the committed ``slices.npz``
calibration slice). Reported: top-1, agreement of the top-1 class with PyTorch FP32, and the
worst per-class drop in points against PyTorch FP32.

    .venv/bin/python benchmarks/precision_accuracy.py --data ROOT     # ROOT/{train,test}/<class>/*.jpg

Writes ``benchmarks/results/precision_accuracy_<model>.{json,md}`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cifar10"
RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("minmax", "entropy", "percentile")
EDGEATTN_POLICIES = ("--attention-policy gate (default)", "--attention-policy fp32", "--attention-policy int8")


def _example(name: str):  # type: ignore[no-untyped-def]
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    return __import__(name)


def class_balanced(images: np.ndarray, labels: np.ndarray, per_class: int) -> np.ndarray:
    """The first ``per_class`` images of every class (the split is in class, then file order)."""
    return np.concatenate([images[labels == c][:per_class] for c in range(10)])


def ort_logits(path: Path, x: np.ndarray, threads: int) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + 250]})[0] for i in range(0, len(x), 250)])


def openvino_logits(model: Any, x: np.ndarray, threads: int) -> np.ndarray:
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    return np.concatenate([request.infer({0: x[i : i + 1]})[0] for i in range(len(x))])


def stats(logits: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    predicted, expected = logits.argmax(1), reference.argmax(1)
    per_class = np.array([(predicted[labels == c] == c).mean() for c in range(10)])
    ref_class = np.array([(expected[labels == c] == c).mean() for c in range(10)])
    drop = ref_class - per_class
    return {
        "top1": round(float((predicted == labels).mean()), 4),
        "agreement": round(float((predicted == expected).mean()), 4),
        "worst_class_drop_pts": round(float(drop.max() * 100), 1),
        "worst_class": _example("data").CLASSES[int(drop.argmax())],
    }


def ort_default_int8(plain: Path, out: Path, calib: np.ndarray, method: str) -> None:
    """quantize_static with ORT's defaults (after the pre-processing ORT's docs ask for)."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgeattn.exporter.quantize.calibration import calibration_method

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            # Equal batches: ORT 1.32's histogram calibrators (entropy, percentile) stack the
            # per-batch outputs with np.asarray and fail on a shorter last batch (500 / 8 = 62.5).
            size = 10 if len(calib) % 10 == 0 else 1
            self.batches = iter([{"input": calib[i : i + size]} for i in range(0, len(calib), size)])

        def get_next(self):  # type: ignore[no-untyped-def]
            return next(self.batches, None)

    pre = out.with_name(out.stem + "_pre.onnx")
    try:
        quant_pre_process(str(plain), str(pre))
    except Exception:  # ORT's symbolic shape inference fails on some opset-18 graphs; its docs say skip it then
        quant_pre_process(str(plain), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), Reader(), calibrate_method=calibration_method(method))


def nncf_int8(plain: Path, calib: np.ndarray) -> Any:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(plain))
    dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    return nncf.quantize(model, dataset, subset_size=len(calib))


def variants(calib: dict[int, np.ndarray], full_grid: bool = False) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(policy, method, calibration size, quantize kwargs) for every INT8 row: every policy with every
    method on 500 images; the other sizes (minmax) for the edgeattn policies, or all with ``full_grid``."""
    policies: dict[str, dict[str, Any]] = {p: {"attention": p.split()[1]} for p in EDGEATTN_POLICIES}
    policies["ort defaults"] = {"ort_defaults": True}
    rows = []
    for policy, kwargs in policies.items():
        for method in METHODS:
            rows.append((policy, method, 500, kwargs))
        for size in sorted(calib):
            if size != 500 and (full_grid or policy in EDGEATTN_POLICIES):
                rows.append((policy, "minmax", size, kwargs))
    return rows


def evaluate_model(name: str, checkpoints: Path, test_x: np.ndarray, test_y: np.ndarray, calib: dict[int, np.ndarray],
                   work: Path, threads: int, log: Callable[[str], None], full_grid: bool = False,
                   rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The rows for one network, appended to ``rows`` as they are measured (a caller may save them)."""
    import torch

    from edgeattn.exporter import export
    from edgeattn.exporter.quantize import quantize
    from edgeattn.models import load_model

    checkpoint = checkpoints / f"{name}.safetensors"
    source = f"{EXAMPLE / 'model.py'}:{name}"
    torch.set_num_threads(threads)
    model = load_model(source, checkpoint).module
    with torch.no_grad():
        reference = torch.cat([model(torch.from_numpy(test_x[i : i + 500])) for i in range(0, len(test_x), 500)]).numpy()
    rows = [] if rows is None else rows
    rows.append({"variant": "pytorch fp32", **stats(reference, reference, test_y)})
    folded, plain = work / f"{name}.onnx", work / f"{name}_plain.onnx"
    export(source, folded, checkpoint=checkpoint)
    export(source, plain, checkpoint=checkpoint, fold="none", input_names=["input"])
    rows.append({"variant": "ort fp32", **stats(ort_logits(folded, test_x, threads), reference, test_y)})
    fp16 = work / f"{name}_fp16.onnx"
    quantize(folded, fp16, "fp16", progress=False)
    rows.append({"variant": "ort fp16", **stats(ort_logits(fp16, test_x, threads), reference, test_y)})
    log(f"[{name}] " + "; ".join(f"{r['variant']} {r['top1']:.4f}" for r in rows))
    for policy, method, size, kwargs in variants(calib, full_grid):
        slug = "".join(c if c.isalnum() else "_" for c in policy).strip("_")
        out = work / f"{name}_int8_{slug}_{method}_{size}.onnx"
        tick = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kwargs.get("ort_defaults"):
                ort_default_int8(plain, out, calib[size], method)
            else:
                quantize(folded, out, "int8", calib[size], calibration_method=method, num_calibration=None,
                         use_cache=False, progress=False, **kwargs)
        row = {"variant": f"int8 {policy}", "method": method, "calibration": size,
               **stats(ort_logits(out, test_x, threads), reference, test_y)}
        rows.append(row)
        log.save()  # type: ignore[attr-defined]
        log(f"[{name}] {row['variant']} {method} {size}: top-1 {row['top1']:.4f}, agreement {row['agreement']:.4f}, "
            f"worst class -{row['worst_class_drop_pts']} pts ({time.perf_counter() - tick:.0f} s)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized = nncf_int8(plain, calib[500])
        row = {"variant": "openvino int8 (nncf.quantize)", "method": "nncf default", "calibration": 500,
               **stats(openvino_logits(quantized, test_x, threads), reference, test_y)}
        rows.append(row)
        log(f"[{name}] {row['variant']}: top-1 {row['top1']:.4f}, agreement {row['agreement']:.4f}")
    except ImportError as exc:
        log(f"[{name}] NNCF/OpenVINO not installed ({exc}); install edgeattn[bench]")
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for name, rows in results["models"].items():
        lines += [f"### {name}", "", "| variant | calibration | top-1 | agreement with FP32 | worst class drop |",
                  "|---|---|---|---|---|"]
        for r in rows:
            calib = f"{r['method']}, {r['calibration']}" if "method" in r else ""
            lines.append(f"| {r['variant']} | {calib} | {r['top1'] * 100:.2f} % | {r['agreement'] * 100:.2f} % | "
                         f"{r['worst_class_drop_pts']:.1f} pts ({r['worst_class']}) |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="CIFAR-10 folder with train/ and test/")
    parser.add_argument("--models", nargs="+", default=["se_resnet20", "cbam_resnet20", "mobilenetv3_cifar"])
    parser.add_argument("--checkpoints", type=Path, default=EXAMPLE, help="folder with <model>.safetensors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 500, 2000], help="calibration set sizes")
    parser.add_argument("--test-limit", type=int, default=None, help="first N per class of the test split only")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "edgeattn-precision-accuracy")
    parser.add_argument("--cache", type=Path, default=None, help="npz of the decoded images (train.py --cache)")
    parser.add_argument("--full-grid", action="store_true", help="every calibration size for every policy")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if 500 not in args.sizes:
        parser.error("--sizes must include 500 (the size every method and NNCF are compared at)")
    args.work.mkdir(parents=True, exist_ok=True)
    train = _example("train")
    started = time.perf_counter()
    train_images, train_y, test_images, test_y = train.decoded(args.data, args.cache)
    if args.test_limit:
        test_images, test_y = class_balanced(test_images, test_y, args.test_limit), np.repeat(np.arange(10), args.test_limit)
    test_x = train.to_tensor(test_images).contiguous().numpy()
    calib = {k: train.to_tensor(class_balanced(train_images, train_y, k // 10)).contiguous().numpy() for k in args.sizes}

    class Log:
        """Progress lines on stderr; ``save`` writes what is measured so far (a long run can be stopped)."""

        current = ""

        def __call__(self, line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        def save(self) -> None:
            if args.no_write or not self.current:
                return
            from edgeattn._io import write_json_atomic, write_text_atomic

            results["seconds"] = round(time.perf_counter() - started)
            one = {**results, "models": {self.current: results["models"][self.current]}}
            write_json_atomic(RESULTS / f"precision_accuracy_{self.current}.json", one)
            write_text_atomic(RESULTS / f"precision_accuracy_{self.current}.md", markdown(one))

    log = Log()

    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "threads": args.threads},
        "test_images": len(test_y),
        "models": {},
    }
    for name in args.models:  # one file pair per network, so networks can be run in separate processes
        log.current = name
        results["models"][name] = []
        evaluate_model(name, args.checkpoints, test_x, test_y, calib, args.work, args.threads, log, args.full_grid,
                       rows=results["models"][name])
        log.save()
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
