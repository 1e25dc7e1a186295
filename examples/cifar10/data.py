"""CIFAR-10 (the JPEG copy, class-per-folder) for the examples: full splits and the committed slices.

The full data set is the class-per-folder JPEG copy of CIFAR-10 (Krizhevsky 2009), unpacked as
``ROOT/{train,test}/<class>/NNNN.jpg``; it is not in the repository. What the tests need is:
``slices.npz`` holds the original JPEG files (bytes, not re-encoded) of

- ``test``: the first 100 images of every class of the test split (1,000 images), and
- ``calibration``: the first 50 images of every class of the training split (500 images),

as one concatenated ``uint8`` byte buffer per slice with offsets and labels (no pickled objects).
``write_slices(dest)`` writes them back as image folders, byte for byte the files of the data set.

    python examples/cifar10/data.py --make-slices ROOT    # (re)build slices.npz from the data set
    python examples/cifar10/data.py --write DEST          # DEST/{test,calibration}/<class>/*.jpg
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SLICES = HERE / "slices.npz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SLICE_SIZES = {"test": ("test", 100), "calibration": ("train", 50)}  # slice -> (split, per class)


def split_files(root: Path, split: str, per_class: int | None = None) -> tuple[list[Path], np.ndarray]:
    """The files of ``root/split`` in class then file-name order (the first ``per_class`` of each)."""
    folder = Path(root) / split
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if tuple(found) != CLASSES:
        raise SystemExit(f"{folder}: expected the class folders {', '.join(CLASSES)}, found {found or 'none'}")
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(CLASSES):
        chosen = sorted((folder / name).glob("*.jpg"))[:per_class]
        files += chosen
        labels += [index] * len(chosen)
    return files, np.asarray(labels, dtype=np.int64)


def decode(blobs: list[bytes]) -> np.ndarray:
    """JPEG bytes -> uint8 [N, 32, 32, 3] RGB."""
    from PIL import Image

    out = []
    for blob in blobs:
        with Image.open(io.BytesIO(blob)) as image:
            out.append(np.asarray(image.convert("RGB")))
    return np.stack(out)


def load_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A whole split decoded: (uint8 [N, 32, 32, 3], int64 labels)."""
    files, labels = split_files(root, split)
    return decode([f.read_bytes() for f in files]), labels


def make_slices(root: Path, out: Path = SLICES) -> Path:
    """Pack the slices' JPEG bytes from the data set at ``root`` into ``out`` (npz, no pickle)."""
    from edgeattn._io import atomic_path

    arrays: dict[str, np.ndarray] = {}
    for name, (split, per_class) in SLICE_SIZES.items():
        files, labels = split_files(root, split, per_class)
        blobs = [f.read_bytes() for f in files]
        arrays[f"{name}_bytes"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{name}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{name}_labels"] = labels
        arrays[f"{name}_names"] = np.asarray([f"{f.parent.name}/{f.name}" for f in files])
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return out


def slice_blobs(name: str, path: Path = SLICES) -> tuple[list[bytes], np.ndarray, list[str]]:
    """One committed slice: (JPEG bytes per image, labels, ``class/file.jpg`` names)."""
    with np.load(path, allow_pickle=False) as data:
        buffer, offsets = data[f"{name}_bytes"].tobytes(), data[f"{name}_offsets"]
        labels, names = data[f"{name}_labels"], [str(n) for n in data[f"{name}_names"]]
    return [buffer[a:b] for a, b in zip(offsets[:-1], offsets[1:])], labels, names


def load_slice(name: str, path: Path = SLICES) -> tuple[np.ndarray, np.ndarray]:
    """A committed slice decoded: (uint8 [N, 32, 32, 3], labels)."""
    blobs, labels, _ = slice_blobs(name, path)
    return decode(blobs), labels


def write_slices(dest: Path, path: Path = SLICES) -> dict[str, Path]:
    """Write every slice as ``dest/<slice>/<class>/NNNN.jpg`` (the data set's own bytes)."""
    written = {}
    for name in SLICE_SIZES:
        blobs, _, names = slice_blobs(name, path)
        for blob, rel in zip(blobs, names):
            target = Path(dest) / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        written[name] = Path(dest) / name
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--make-slices", type=Path, metavar="ROOT", help="data set folder with train/ and test/")
    group.add_argument("--write", type=Path, metavar="DEST", help="write the committed slices as image folders")
    args = parser.parse_args(argv)
    if args.make_slices:
        print(f"wrote {make_slices(args.make_slices)}")
    else:
        for folder in write_slices(args.write).values():
            print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
