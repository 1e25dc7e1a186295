"""Atomic writes: the destination appears whole or not at all, with ordinary permissions."""

from __future__ import annotations

import stat

import pytest

from edgeattn._io import atomic_path, sha256_file, write_json_atomic, write_text_atomic


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path) -> None:
    dest = tmp_path / "model.onnx"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_written_file_gets_umask_permissions_not_0600(tmp_path) -> None:
    from edgeattn import _io

    path = write_text_atomic(tmp_path / "report.md", "x")
    # mkstemp alone would leave 0600: a report or model others on the machine cannot read.
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_io._UMASK


def test_json_round_trip_and_hash(tmp_path) -> None:
    path = write_json_atomic(tmp_path / "a" / "r.json", {"k": [1, 2]})
    assert path.read_text().startswith("{")
    import hashlib

    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
