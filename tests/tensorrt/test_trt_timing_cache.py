"""Timing cache: an unreadable file, a file another build rewrites meanwhile, the lock (F13)."""

from __future__ import annotations

import fcntl
import threading

import pytest

from edgeattn.tensorrt import build
from edgeattn.tensorrt.timing_cache import file_lock


@pytest.mark.parametrize("gen", ["8.5", "10.16", "11.1"])
def test_unreadable_cache_starts_empty_with_a_warning(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"\x00garbage from another tool")
    result = build(tiny_onnx, tmp_path / "m.engine", timing_cache=str(cache))
    assert result.timing_cache_status == "replaced"
    assert any("could not be read" in w for w in result.warnings)
    assert cache.read_bytes() == b"standin-timing-cache:1"
    created = [c[1][0] for c in world.calls if c[0] == "IBuilderConfig.create_timing_cache"]
    assert created[-1] == b""


@pytest.mark.parametrize("gen", ["8.6", "10.3"])
def test_cache_rewritten_during_the_build_is_merged_not_lost(make_world, tiny_onnx, tmp_path, gen):
    cache = tmp_path / "timing.cache"

    def other_build_finishes() -> None:  # another process saves 5 entries while we build
        cache.write_bytes(b"standin-timing-cache:5")

    world = make_world(gen, "13", during_build=other_build_finishes)
    build(tiny_onnx, tmp_path / "m.engine", timing_cache=str(cache))
    assert cache.read_bytes() == b"standin-timing-cache:6"  # our 1 + their 5
    assert world.count("ITimingCache.combine") == 1


def test_save_waits_for_the_lock(make_world, tiny_onnx, tmp_path):
    make_world("10.16", "13")
    cache = tmp_path / "timing.cache"
    done = threading.Event()
    with file_lock(cache):
        worker = threading.Thread(
            target=lambda: (build(tiny_onnx, tmp_path / "m.engine", timing_cache=str(cache)), done.set())
        )
        worker.start()
        assert not done.wait(1.0)  # blocked on the lock we hold
        assert not cache.exists()
    worker.join(30)
    assert done.is_set() and cache.read_bytes() == b"standin-timing-cache:1"


def test_file_lock_is_exclusive(tmp_path):
    target = tmp_path / "c.cache"
    with file_lock(target):
        with open(tmp_path / "c.cache.lock", "a+b") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
