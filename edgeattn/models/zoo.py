"""The zoo table behind ``edgeattn models``: parameters and multiply-adds of every registry model.

Counting all models takes seconds (meta-device forward passes, plus importing torch), so the
table is cached under ``~/.cache/edgeattn`` (or ``$EDGEATTN_CACHE_DIR``), keyed by a hash of the
model and layer sources and of edgeattn's and torch's versions; any change recomputes it. A hit
answers without importing torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent


def _fingerprint() -> str:
    from .. import __version__

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    digest = hashlib.sha256(f"{__version__}|{torch_version}".encode())
    for file in sorted([*_ROOT.glob("*.py"), *(_ROOT.parent / "layers").glob("*.py")]):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def cache_file() -> Path:
    """Where the table is cached for the current sources and versions."""
    base = os.environ.get("EDGEATTN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "edgeattn"
    )
    return Path(base) / f"zoo-profile-{_fingerprint()}.json"


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort ``resnet18`` before ``resnet101``; group by family, then attention."""
    family = re.sub(r"^(se|cbam)_", "", name)
    attention = name[: len(name) - len(family)]
    parts = tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", family))
    return (parts, attention)


def compute_table() -> list[dict[str, Any]]:
    """Profile every registry model on the meta device (no memory, no real compute)."""
    from ._registry import list_models, model_entry
    from .profile import profile_registry_model

    rows = []
    for name in sorted(list_models(), key=natural_key):
        entry = model_entry(name)
        prof = profile_registry_model(entry.factory)
        rows.append({
            "name": name,
            "attention": entry.attention,
            "family": entry.family,
            "params": prof["params"],
            "macs": prof["macs"],
            "gflops": round(prof["gflops"], 4),
            "input_size": prof["input_size"],
            "description": entry.description,
        })
    return rows


def zoo_table(use_cache: bool = True) -> list[dict[str, Any]]:
    """One row per registry model: name, attention, family, params, macs, gflops at 224x224."""
    from .._io import write_json_atomic

    cache = cache_file() if use_cache else None
    if cache is not None and cache.is_file():
        try:
            rows = json.loads(cache.read_text())
            if isinstance(rows, list) and rows and all({"name", "params", "gflops"} <= set(r) for r in rows):
                return rows
        except (ValueError, TypeError, OSError):
            pass  # a damaged cache is recomputed
    rows = compute_table()
    if cache is not None:
        try:
            write_json_atomic(cache, rows)
        except OSError:
            pass  # read-only home: still works, only slower
    return rows
