"""Train the CIFAR-10 example networks (model.py) on the JPEG copy of CIFAR-10, on the CPU.

    python examples/cifar10/train.py --data ROOT --model se_resnet20      # ROOT/{train,test}/<class>/*.jpg
    python examples/cifar10/train.py --data ROOT --model cbam_resnet20
    python examples/cifar10/train.py --data ROOT --model mobilenetv3_cifar

Recipe (chosen for a small CPU budget, not for the best accuracy): SGD with Nesterov momentum 0.9,
batch 128, one-cycle learning rate (linear warm-up to 0.2 over the first 20 % of steps, linear
decay to 0), weight decay 5e-4 on conv/linear weights only, label smoothing 0.1, random crop
(4-pixel reflection padding) and horizontal flip, channels-last tensors. Writes
``<model>.safetensors`` (with the test top-1 in its metadata) and ``<model>.log`` beside this file.

Deterministic: seeded initialisation, shuffling and augmentation, fixed thread count; the same
seed, thread count and torch build give the same weights.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 0
# Epochs of the committed checkpoints (their .log files): ``--epochs`` defaults to these, so the
# command without it reproduces the checkpoint.
EPOCHS = {"se_resnet20": 15, "cbam_resnet20": 12, "mobilenetv3_cifar": 11}


def _local(name: str):  # type: ignore[no-untyped-def]
    """A module of this folder (model.py, data.py), importable by its bare name."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return __import__(name)


def to_tensor(images: np.ndarray):  # type: ignore[no-untyped-def]
    """uint8 [N, 32, 32, 3] -> normalised float32 [N, 3, 32, 32] (model.INPUT_CONFIG), channels-last."""
    import torch

    config = _local("model").INPUT_CONFIG
    mean = torch.tensor(config["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(config["std"], dtype=torch.float32).view(1, 3, 1, 1)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def augment(batch, generator):  # type: ignore[no-untyped-def]
    """Random 32x32 crop of the 4-pixel reflection-padded images, and a random horizontal flip."""
    import torch
    import torch.nn.functional as F

    n = batch.shape[0]
    padded = F.pad(batch, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2, n), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(batch)
    for i in range(n):
        crop = padded[i, :, dy[i] : dy[i] + 32, dx[i] : dx[i] + 32]
        out[i] = crop.flip(2) if flip[i] else crop
    return out


def evaluate(model, x, y, batch_size: int = 500) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    """(top-1, logits) of ``model`` in eval mode over normalised inputs ``x``."""
    import torch

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()
    return float((logits.argmax(1) == y).mean()), logits


def decoded(root: Path, cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, labels, test images, labels), decoded once into ``cache`` (npz) if given:
    decoding the 60,000 JPEGs takes about a minute of one core."""
    data = _local("data")
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return z["train_x"], z["train_y"], z["test_x"], z["test_y"]
    arrays = (*data.load_split(root, "train"), *data.load_split(root, "test"))
    if cache is not None:
        from edgeattn._io import atomic_path

        with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **dict(zip(("train_x", "train_y", "test_x", "test_y"), arrays)))
    return arrays  # type: ignore[return-value]


def fit(name: str, x, y, epochs: int, threads: int, log):  # type: ignore[no-untyped-def]
    """Train ``model.FACTORIES[name]`` from seed SEED on normalised inputs ``x`` and labels ``y``."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    model = _local("model").FACTORIES[name]().to(memory_format=torch.channels_last).train()
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    batch_size, peak = 128, 0.2
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=peak, momentum=0.9, nesterov=True,
    )
    steps_per_epoch = len(x) // batch_size  # drop the last partial batch: BN on a few samples is noisy
    total = epochs * steps_per_epoch
    warm = max(1, int(0.2 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        tick, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        order = torch.randperm(len(x), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            batch = augment(x[index], generator)
            optimizer.zero_grad(set_to_none=True)
            logits = model(batch)
            loss = loss_fn(logits, y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(index)
            correct += int((logits.argmax(1) == y[index]).sum())
            seen += len(index)
        log(
            f"epoch {epoch + 1}/{epochs}: train loss {loss_sum / seen:.4f}, train top-1 {correct / seen:.4f}, "
            f"lr {schedule.get_last_lr()[0]:.4f}, {time.perf_counter() - tick:.0f} s"
        )
    return model


def train(name: str, data_root: Path, epochs: int, threads: int, log, cache: Path | None = None) -> tuple[object, float]:  # type: ignore[no-untyped-def]
    import torch

    started = time.perf_counter()
    train_x, train_y, test_x, test_y = decoded(data_root, cache)
    x, y = to_tensor(train_x), torch.from_numpy(train_y)
    log(f"decoded {len(x)} train / {len(test_x)} test images in {time.perf_counter() - started:.0f} s")
    model = fit(name, x, y, epochs, threads, log)
    accuracy, _ = evaluate(model, to_tensor(test_x), test_y)
    log(f"test top-1 {accuracy:.4f} on {len(test_y)} images; {time.perf_counter() - started:.0f} s in all")
    return model, accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="CIFAR-10 folder with train/ and test/")
    parser.add_argument("--model", choices=sorted(_local("model").FACTORIES), required=True)
    parser.add_argument("--epochs", type=int, default=None, help="default: the committed checkpoint's (EPOCHS)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None, help="npz of the decoded images (written if missing)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for <model>.safetensors and <model>.log")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = EPOCHS[args.model]

    import torch
    from safetensors.torch import save_file

    from edgeattn._io import atomic_path, write_text_atomic

    lines: list[str] = []

    def log(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    log(f"{args.model}: seed {SEED}, {args.epochs} epochs, {args.threads} thread(s), torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}")
    model, accuracy = train(args.model, args.data, args.epochs, args.threads, log, args.cache)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}  # type: ignore[attr-defined]
    meta = {"dataset": "CIFAR-10, JPEG copy (class-per-folder)", "test_top1": f"{accuracy:.4f}",
            "epochs": str(args.epochs), "seed": str(SEED), "threads": str(args.threads)}
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / f"{args.model}.safetensors"
    with atomic_path(checkpoint) as tmp:  # an interrupted run keeps the old checkpoint
        save_file(state, str(tmp), metadata=meta)
    write_text_atomic(args.out / f"{args.model}.log", "\n".join(lines) + "\n" + json.dumps(meta) + "\n")
    print(f"wrote {checkpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
