"""The zoo table behind ``edgeattn models``: parameters and multiply-adds of every registry model.

Counting all models takes seconds (meta-device forward passes, plus importing torch). So:
1. the package ships ``zoo_table.json``, valid while the sources that define the models are
   unchanged (a hash of them is stored in it; ``tests/models/test_zoo.py`` fails when it is stale,
   ``python -m edgeattn.models.zoo`` rewrites it);
2. otherwise the table is computed once and cached under ``~/.cache/edgeattn`` (or
   ``$EDGEATTN_CACHE_DIR``), keyed by the same hash.
Either way a hit answers without importing torch. Multiply-add counts depend only on the model
definitions, not on the torch version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent


SHIPPED = _ROOT / "zoo_table.json"
# The files whose content defines the table; anything else in models/ may change freely.
_SOURCES = ("_registry.py", "resnet.py", "mobilenet.py", "profile.py", "zoo.py")


def _fingerprint() -> str:
    digest = hashlib.sha256(b"zoo-table-v1")
    files = [_ROOT / name for name in _SOURCES] + sorted((_ROOT.parent / "layers").glob("*.py"))
    for file in files:
        digest.update(file.name.encode())
        # Normalised newlines so that a checkout with CRLF endings hashes the same.
        digest.update(file.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:16]


def cache_file() -> Path:
    """Where the table is cached for the current model sources (their hash names the file)."""
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
        if not entry.factory.__module__.startswith("edgeattn."):
            continue  # models registered by user code at runtime are not part of the zoo table
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

    if use_cache:
        shipped = _read_rows(SHIPPED, expect_fingerprint=True)
        if shipped is not None:
            return shipped
    cache = cache_file() if use_cache else None
    if cache is not None:
        cached = _read_rows(cache, expect_fingerprint=False)
        if cached is not None:
            return cached
    rows = compute_table()
    if cache is not None:
        try:
            write_json_atomic(cache, rows)
        except OSError:
            pass  # read-only home: still works, only slower
    return rows


def _read_rows(path: Path, *, expect_fingerprint: bool) -> list[dict[str, Any]] | None:
    """Rows from a table file, or None when absent, damaged or (shipped file) stale."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            if expect_fingerprint and data.get("fingerprint") != _fingerprint():
                return None
            data = data.get("models")
        if isinstance(data, list) and data and all({"name", "params", "gflops", "attention"} <= set(r) for r in data):
            return data
    except (ValueError, TypeError, OSError, AttributeError):
        pass  # a damaged table is recomputed
    return None


def write_shipped_table() -> Path:
    """Recompute the table and write it, with the current sources' hash, into the package."""
    from .._io import write_text_atomic

    payload = {"fingerprint": _fingerprint(), "models": compute_table()}
    return write_text_atomic(SHIPPED, json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    print(write_shipped_table())
