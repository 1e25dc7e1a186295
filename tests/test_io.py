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
    import json
    from pathlib import Path

    obj = {"k": [1, 2], "nested": {"s": "é"}, "path": Path("m.onnx")}
    path = write_json_atomic(tmp_path / "a" / "r.json", obj)
    assert path == tmp_path / "a" / "r.json"
    # what comes back is what went in (a Path is written as its string)
    assert json.loads(path.read_text(encoding="utf-8")) == {"k": [1, 2], "nested": {"s": "é"}, "path": "m.onnx"}
    assert path.read_text(encoding="utf-8").endswith("}\n")


def test_sha256_file_matches_known_digests_across_chunks(tmp_path) -> None:
    # FIPS 180-2 test vectors: "abc", and one million "a" (read in many chunks here).
    small = tmp_path / "abc"
    small.write_bytes(b"abc")
    assert sha256_file(small) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = tmp_path / "million"
    big.write_bytes(b"a" * 1_000_000)
    expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    assert sha256_file(big, chunk_size=4096) == expected
    assert sha256_file(big) == expected
