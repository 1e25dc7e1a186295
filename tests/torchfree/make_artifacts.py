"""Write the artifacts the torch-free tests read, on the machine that has PyTorch (the workstation side).

    python tests/torchfree/make_artifacts.py OUT_DIR

OUT_DIR gets digits.onnx (FP32, exported from examples/digits with its trained checkpoint, with
the reference set export writes beside it), bare/digits.onnx (the same without that set),
digits_int8.onnx (calibrated on the training images), heldout.npz (held-out images preprocessed
with the artifact's recorded recipe, with labels) and heldout/ (the same images as PNG files).
The torch-free side then needs no PyTorch or scikit-learn: ``scripts/test.sh`` runs this with the
full install and the tests in this folder in a ``[cpu]``-only virtualenv.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"
HELDOUT = 200  # enough for a stable top-1 agreement, small enough to keep the tests quick


def main(out: Path) -> None:
    import numpy as np

    import edgeattn
    from edgeattn.data import Preprocessing, load_samples

    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    if not (data / "heldout").is_dir():
        spec = importlib.util.spec_from_file_location("digits_train", EXAMPLE / "train.py")
        train = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(train)
        train.export_data(data)
    fp32 = out / "digits.onnx"
    if not fp32.exists():
        edgeattn.export(f"{EXAMPLE / 'model.py'}:create", fp32, checkpoint=EXAMPLE / "digits_cbam.safetensors")
    bare = out / "bare" / "digits.onnx"  # the same model without the reference set export writes
    if not bare.exists():
        bare.parent.mkdir(exist_ok=True)
        bare.write_bytes(fp32.read_bytes())
    int8 = out / "digits_int8.onnx"
    if not int8.exists():
        edgeattn.quantize(fp32, int8, "int8", calibration=data / "train", num_calibration=128, progress=False)
    held = out / "heldout.npz"
    if not held.exists():
        pre = Preprocessing.from_onnx(fp32)
        samples = load_samples(data / "heldout", input_size=pre.input_size, preprocessing=pre, limit=HELDOUT)
        np.savez(held, x=samples.arrays, labels=samples.labels)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_artifacts.py OUT_DIR")
    main(Path(sys.argv[1]))
