"""The zoo table: the shipped copy is fresh, the cache works, torch is not imported on a hit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeattn.models import zoo


def test_shipped_table_is_fresh() -> None:
    # Fails when a model or layer source changed without `python -m edgeattn.models.zoo`.
    data = json.loads(zoo.SHIPPED.read_text())
    assert data["fingerprint"] == zoo._fingerprint(), "stale zoo_table.json: run python -m edgeattn.models.zoo"
    assert data["models"] == zoo.compute_table()


def test_table_rows() -> None:
    rows = {r["name"]: r for r in zoo.zoo_table()}
    assert rows["se_resnet50"]["params"] == 28_088_024 and rows["se_resnet50"]["attention"] == "se"
    assert rows["cbam_resnet50"]["macs"] > rows["se_resnet50"]["macs"] > rows["resnet50"]["macs"]
    names = [r["name"] for r in zoo.zoo_table()]
    assert names.index("resnet18") < names.index("resnet101")  # natural order


def test_stale_shipped_table_falls_back_to_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "zoo_table.json"
    stale.write_text(json.dumps({"fingerprint": "0" * 16, "models": [{"name": "x", "params": 1, "gflops": 0, "attention": "se"}]}))
    monkeypatch.setattr(zoo, "SHIPPED", stale)
    monkeypatch.setenv("EDGEATTN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = zoo.compute_table
    monkeypatch.setattr(zoo, "compute_table", lambda: calls.append(1) or real())
    first = zoo.zoo_table()
    second = zoo.zoo_table()
    assert first == second and "x" not in {r["name"] for r in first}
    assert calls == [1] and zoo.cache_file().is_file()


def test_cache_hit_imports_no_torch(tmp_path: Path) -> None:
    code = "import sys; from edgeattn.cli import app; app(['models', '--json'], standalone_mode=False); " \
           "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "NO-TORCH" in result.stderr and json.loads(result.stdout)[0]["name"] == "mobilenet_small"
