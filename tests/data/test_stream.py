"""edgeattn.data.stream_samples: the same samples as load_samples, read in batches with bounded memory."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeattn.data import Samples, SampleStream, load_samples, stream_samples
from edgeattn.errors import InputError

Image = pytest.importorskip("PIL.Image")
SIZE = (3, 16, 16)
ROOT = Path(__file__).resolve().parents[2]


def _write_image(path, value, size=20):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8), "RGB").save(path)


def _class_folder(root, counts):
    for cls, n in counts.items():
        for i in range(n):
            _write_image(root / cls / f"{i}.png", (25 * i + 7 * len(cls)) % 256)
    return root


def _all(stream, batch):
    return np.concatenate(list(stream.batches(batch)))


def test_folder_stream_matches_load_samples_in_any_batch_size(tmp_path):
    folder = _class_folder(tmp_path, {"zebra": 3, "ant": 4, "cat": 2})
    whole = load_samples(folder, input_size=SIZE)
    stream = stream_samples(folder, input_size=SIZE)
    assert len(stream) == 9 and stream.sample_shape == SIZE
    assert stream.class_names == whole.class_names == ["ant", "cat", "zebra"]  # sorted, as ImageFolder
    assert stream.labels.tolist() == whole.labels.tolist() and stream.paths == whole.paths
    for batch in (1, 2, 4, 9, 50):
        parts = list(stream.batches(batch))
        assert [len(p) for p in parts[:-1]] == [batch] * (len(parts) - 1)
        np.testing.assert_array_equal(np.concatenate(parts), whole.arrays)
    np.testing.assert_array_equal(stream.sample(5), whole.arrays[5:6])
    limited = stream_samples(folder, input_size=SIZE, limit=3)
    assert limited.paths == load_samples(folder, input_size=SIZE, limit=3).paths


def test_a_class_list_sets_the_label_order_and_names_unknown_folders(tmp_path):
    folder = _class_folder(tmp_path / "data", {"cat": 2, "ant": 1})
    order = tmp_path / "classes.txt"
    order.write_text("cat\ndog\nant\n")
    stream = stream_samples(folder, input_size=SIZE, class_names=order)
    # Files in sorted folder order (ant, cat); labels = positions in the list (ant=2, cat=0).
    assert stream.labels.tolist() == [2, 0, 0] and stream.class_names == ["cat", "dog", "ant"]
    assert load_samples(folder, input_size=SIZE, class_names=["cat", "dog", "ant"]).labels.tolist() == [2, 0, 0]
    with pytest.raises(InputError, match=r"class folder\(s\) 'ant' that the class list does not name"):
        stream_samples(folder, input_size=SIZE, class_names=["cat", "dog"])
    with pytest.raises(InputError, match="'cat' more than once"):
        stream_samples(folder, input_size=SIZE, class_names=["cat", "cat", "ant"])


@pytest.mark.parametrize("kind", ["npy", "npz", "npz_compressed", "npz_fortran"])
def test_arrays_stream_the_same_rows_as_load_samples(tmp_path, kind):
    rng = np.random.default_rng(1)
    arrays = rng.standard_normal((23, *SIZE)).astype(np.float32)
    labels = rng.integers(0, 5, 23)
    path = tmp_path / f"x.{kind[:3]}"
    if kind == "npy":
        np.save(path, arrays)
    elif kind == "npz":
        np.savez(path, images=arrays, labels=labels)
    elif kind == "npz_compressed":
        np.savez_compressed(path, images=arrays, labels=labels)
    else:
        np.savez(path, images=np.asfortranarray(arrays), labels=labels)
    for limit in (None, 6):
        whole = load_samples(path, input_size=SIZE, limit=limit)
        stream = stream_samples(path, input_size=SIZE, limit=limit)
        assert len(stream) == len(whole)
        np.testing.assert_array_equal(_all(stream, 4), whole.arrays)
        if kind != "npy":
            assert stream.labels.tolist() == whole.labels.tolist()
        # Backwards after a full pass (the compressed reader re-opens its member).
        np.testing.assert_array_equal(stream.sample(1), whole.arrays[1:2])
        np.testing.assert_array_equal(stream.sample(len(whole) - 1), whole.arrays[-1:])


def test_npy_is_memory_mapped_not_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((10, *SIZE), np.float32))
    calls = []
    real = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k.get("mmap_mode")) or real(*a, **k))
    stream_samples(path, input_size=SIZE)
    assert calls == ["r"]


def test_shape_errors_come_on_opening_and_nan_from_the_batch_that_holds_it(tmp_path):
    nhwc = tmp_path / "nhwc.npy"
    np.save(nhwc, np.zeros((4, 16, 16, 3), np.float32))
    with pytest.raises(InputError, match=r"received shape \[1, 16, 16, 3\]") as info:
        stream_samples(nhwc, input_size=SIZE)
    assert "NHWC" in (info.value.hint or "")
    bad = np.zeros((10, *SIZE), np.float32)
    bad[7, 0, 0, 0] = np.nan
    for name, save in (("nan.npy", np.save), ("nan.npz", np.savez_compressed)):
        path = tmp_path / name
        save(path, bad)
        stream = stream_samples(path, input_size=SIZE)
        batches = stream.batches(4)
        assert next(batches).shape == (4, *SIZE)  # samples 0..3 are fine
        with pytest.raises(InputError, match=r"samples 4\.\.7\): received 1 NaN or Inf"):
            list(batches)


def test_an_unreadable_image_is_raised_in_the_callers_thread_and_the_worker_stops(tmp_path):
    folder = _class_folder(tmp_path, {"a": 6})
    (folder / "a" / "3.png").write_bytes(b"not a png")
    stream = stream_samples(folder, input_size=SIZE)
    before = threading.active_count()
    with pytest.raises(InputError, match=r"cannot read image .*3\.png"):
        list(stream.batches(2))
    assert threading.active_count() == before


def test_closing_early_stops_the_read_ahead_with_at_most_prefetch_batches_read(tmp_path):
    reads, threads = [], set()

    def read(pos):
        reads.append(int(pos[0]))
        threads.add(threading.current_thread().name)
        return np.zeros((pos.size, 1), np.float32)

    stream = SampleStream(100, (1,), read)
    before = threading.active_count()
    batches = stream.batches(1, prefetch=2)
    next(batches)
    assert threads == {"edgeattn-read-ahead"}  # not the caller's thread: it keeps running models
    batches.close()
    assert threading.active_count() == before
    # One handed out, two queued, one in the worker's hands when it was told to stop.
    assert len(reads) <= 4


def test_in_memory_samples_as_a_stream():
    arrays = np.arange(5 * 2, dtype=np.float32).reshape(5, 2)
    stream = SampleStream.from_samples(Samples(arrays=arrays, labels=np.arange(5), source="mem"))
    np.testing.assert_array_equal(_all(stream, 2), arrays)
    for batch in (2, 5):  # one sample read again mid-pass (threaded and single-batch passes)
        batches = stream.batches(batch)
        next(batches)
        np.testing.assert_array_equal(stream.sample(4), arrays[4:5])
        batches.close()
    assert stream.labels.tolist() == [0, 1, 2, 3, 4] and stream.source == "mem"


# Peak memory of validate over 20,000 images, in a subprocess (its own VmHWM).
#
# Each 8x8 PNG is preprocessed to a 3x64x64 float32 tensor (49,152 bytes), so decoding the folder
# whole (what load_samples does) needs 20,000 x 49,152 B = 983 MB for the array alone, on top of
# the process's own footprint, plus the np.stack copy. Streamed with batches of 64 and 2 batches
# read ahead, inputs take at most 4 x 64 x 49,152 B = 12.6 MB and outputs 20,000 x 4 logits x 4 B
# x 2 models = 0.6 MB, so the run stays near that footprint (interpreter, numpy, Pillow, onnx,
# ONNX Runtime): this test measured a 190 MB peak. The bound, 400 MB, leaves 2x headroom over
# that and is less than half of what the decoded array alone would take.
RSS_IMAGES = 20_000
RSS_SIZE = 64
RSS_BOUND_MB = 400
WHOLE_DECODE_MB = RSS_IMAGES * 3 * RSS_SIZE * RSS_SIZE * 4 / 1e6


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from Linux's /proc")
def test_validate_peak_memory_does_not_grow_with_the_folder(tmp_path):
    pytest.importorskip("onnxruntime")
    sys.path.insert(0, str(ROOT))
    from tests.tiny_onnx import tiny_classifier

    import onnx

    model = tmp_path / "tiny.onnx"
    onnx.save(tiny_classifier(size=RSS_SIZE, classes=4), model)
    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    per_class = RSS_IMAGES // 4
    for cls in range(4):
        (folder / f"class{cls}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(pixels[(cls * 7 + i) % 64], "RGB").save(folder / f"class{cls}" / f"{i:05d}.png", compress_level=0)
    assert WHOLE_DECODE_MB > 2 * RSS_BOUND_MB

    script = textwrap.dedent(
        f"""
        import json, sys
        from edgeattn.validation import validate
        report = validate({str(model)!r}, reference={str(model)!r}, backend="onnxruntime", inputs={str(folder)!r},
                          batch_size=64, threads=1)
        # VmHWM: this process's own peak. Not ru_maxrss, which keeps the forking parent's peak
        # across exec (Linux saves the old high-water mark in the signal struct).
        with open("/proc/self/status") as status:
            peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        print(json.dumps({{"count": report.inputs["count"], "passed": bool(report.passed),
                           "top1": report.artifacts[0].accuracy["top1"], "ref_top1": report.reference_accuracy["top1"],
                           "peak_mb": peak_kb / 1024}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"validate over {RSS_IMAGES} images: peak RSS {result['peak_mb']:.0f} MB")
    assert result["count"] == RSS_IMAGES and result["passed"]
    assert result["top1"] == result["ref_top1"]  # the same model on both sides
    assert result["peak_mb"] < RSS_BOUND_MB, f"peak RSS {result['peak_mb']:.0f} MB (whole decode: {WHOLE_DECODE_MB:.0f} MB)"


def test_validate_cli_reports_top1_top5_side_by_side_with_the_label_order(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from typer.testing import CliRunner

    sys.path.insert(0, str(ROOT))
    from edgeattn.cli import app
    from tests.tiny_onnx import tiny_classifier

    model = tmp_path / "six.onnx"
    onnx.save(tiny_classifier(size=16, classes=6), model)
    folder = _class_folder(tmp_path / "data", {"b": 3, "a": 3})
    order = tmp_path / "classes.txt"
    order.write_text("a\nq\nb\nr\ns\nt\n")
    argv = ["validate", str(model), "--reference", str(model), "--backend", "onnxruntime", "--inputs", str(folder), "--batch-size", "4"]
    result = CliRunner().invoke(app, [*argv, "--labels", str(order), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # --json: the report alone on stdout
    assert data["inputs"]["count"] == 6 and data["inputs"]["class_order"] == f"class list {order}"
    ref, art = data["reference_accuracy"], data["artifacts"][0]["accuracy"]
    assert ref["count"] == 6 and "top5" in ref and art["top1"] == ref["top1"] and art["top5"] == ref["top5"]
    table = CliRunner().invoke(app, argv)
    assert table.exit_code == 0, table.output
    assert "sorted folder names" in table.output and "top-5" in table.output and "six.onnx (reference)" in table.output
