"""Train the digits example (model.py) and export its data as image folders.

scikit-learn's handwritten digits (1797 8x8 images with 17 gray levels, UCI ML digits) are
upsampled to 32x32 8-bit gray images, split 75/25 (stratified, fixed seed), and written as
``data/train/<digit>/*.png`` (calibration) and ``data/heldout/<digit>/*.png`` (validation, its
class sub-folders are the labels). Training reads the very same 8-bit images, normalised like
``model.INPUT_CONFIG``, so the folders preprocess to exactly what the network was trained on.

    python examples/digits/train.py               # ~1 min on 2 cores: checkpoint + data
    python examples/digits/train.py --data-only   # just (re)write the image folders

Deterministic: fixed split, seeded initialisation and shuffling, 2 threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CHECKPOINT = HERE / "digits_cbam.safetensors"
DATA = HERE / "data"
SEED = 0


def _model_module():  # type: ignore[no-untyped-def]
    """examples/digits/model.py, importable as ``model`` from this folder (path added once)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import model

    return model


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All digits as uint8 [N, 32, 32] gray images (bilinear upsampling) and int64 labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(im, "L").resize((32, 32), Image.Resampling.BILINEAR)) for im in small])
    return big, digits.target.astype(np.int64)


def split(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed 75/25 stratified split: (train images, train labels, held-out images, labels)."""
    from sklearn.model_selection import train_test_split

    tr_x, te_x, tr_y, te_y = train_test_split(images, labels, test_size=0.25, stratify=labels, random_state=SEED)
    return tr_x, tr_y, te_x, te_y


def write_folder(images: np.ndarray, labels: np.ndarray, root: Path) -> int:
    """``root/<digit>/<index>.png``; returns the number of images written."""
    from PIL import Image

    for index, (image, label) in enumerate(zip(images, labels)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "L").save(folder / f"{index:04d}.png")
    return len(images)


def export_data(root: Path = DATA) -> tuple[Path, Path]:
    """Write the train and held-out image folders under ``root``; returns their paths."""
    tr_x, tr_y, te_x, te_y = split(*digit_images())
    write_folder(tr_x, tr_y, root / "train")
    write_folder(te_x, te_y, root / "heldout")
    return root / "train", root / "heldout"


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32] -> float32 [N, 1, 32, 32] with model.INPUT_CONFIG's mean/std."""
    config = _model_module().INPUT_CONFIG
    mean = np.float32(config["mean"][0])
    std = np.float32(config["std"][0])
    return ((images.astype(np.float32) * np.float32(1.0 / 255.0) - mean) / std)[:, None]


def train(epochs: int = 20, batch_size: int = 64, threads: int = 2) -> tuple[object, float]:
    """Train from scratch; returns (model in eval mode, held-out accuracy)."""
    import torch
    from torch import nn

    create = _model_module().create
    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    tr_x, tr_y, te_x, te_y = split(*digit_images())
    x = torch.from_numpy(normalise(tr_x))
    y = torch.from_numpy(tr_y)
    model = create(10).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            # One-pixel random shifts: the 8x8 digits are centred, held-out ones not always.
            shift = torch.randint(-2, 3, (2,), generator=generator).tolist()
            batch = torch.roll(x[index], shifts=shift, dims=(2, 3))
            optimizer.zero_grad()
            loss = loss_fn(model(batch), y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(normalise(te_x))).argmax(1).numpy()
    return model, float((predicted == te_y).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-only", action="store_true", help="only write the image folders")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    train_dir, heldout_dir = export_data(args.data_dir)
    print(f"wrote {train_dir} and {heldout_dir}")
    if args.data_only:
        return 0
    from safetensors.torch import save_file

    from edgeattn._io import atomic_path

    started = time.perf_counter()
    model, accuracy = train(args.epochs)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}  # type: ignore[attr-defined]
    with atomic_path(args.checkpoint) as tmp:  # an interrupted run keeps the old checkpoint
        save_file(state, str(tmp), metadata={"dataset": "sklearn.datasets.load_digits", "heldout_top1": f"{accuracy:.4f}"})
    print(f"held-out top-1 {accuracy:.4f} after {time.perf_counter() - started:.0f} s; wrote {args.checkpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
