"""Issue 13 item 7: the smaller defects."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.errors import CheckpointError


def test_close_waits_for_calls_in_flight() -> None:
    from edgeattn.runtime.base import Runner, TensorSpec

    inside, release = threading.Event(), threading.Event()

    class Slow(Runner):
        backend = "slow"

        def _load_impl(self) -> None:
            self.session = object()
            self._inputs = [TensorSpec("x", np.dtype("float32"), (1,))]
            self._outputs = [TensorSpec("y", np.dtype("float32"), (1,))]

        def _run_impl(self, feed):  # type: ignore[no-untyped-def]
            inside.set()
            release.wait(10)
            assert self.session is not None, "session released under a running call"
            return {"y": feed["x"]}

        def _close_impl(self) -> None:
            self.session = None

    runner = Slow().load()
    results: list[object] = []
    call = threading.Thread(target=lambda: results.append(runner.run(np.zeros(1, np.float32))))
    call.start()
    assert inside.wait(10)
    closer = threading.Thread(target=runner.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive()  # close() waits for the call in flight
    release.set()
    call.join(10)
    closer.join(10)
    assert len(results) == 1 and not runner.is_loaded


def test_close_while_many_threads_run(tiny_model: Path) -> None:
    from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner

    runner = OnnxRuntimeRunner(tiny_model, threads=1).load()
    x = np.zeros((1, 3, 8, 8), np.float32)
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                runner.run(x)
            except Exception as exc:  # noqa: BLE001 - the test collects whatever escapes
                if "close() is in progress" not in str(exc):
                    errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(100):
        runner.close()
    stop.set()
    for t in threads:
        t.join()
    runner.close()
    assert errors == []


def test_png_as_checkpoint_is_named_a_png(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "photo.pt"
    Image.new("RGB", (4, 4)).save(path, format="PNG")
    from edgeattn.models.checkpoint import read_checkpoint

    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert "is a PNG image" in info.value.message and "unsafe-pickle" not in (info.value.hint or "")


def test_directory_as_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(tmp_path)])
    assert result.exit_code == 1 and "is a directory" in result.output and "not found" not in result.output


def test_torchscript_error_never_ends_in_a_bare_colon() -> None:
    from edgeattn.models.checkpoint import _first_line

    assert _first_line(RuntimeError("")) == "RuntimeError, no message"
    assert _first_line(RuntimeError("   \n  ")) == "RuntimeError, no message"


def test_missing_provider_warning_is_a_warning_line(tiny_model: Path) -> None:
    from edgeattn.errors import EdgeattnWarning
    from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        OnnxRuntimeRunner(tiny_model, providers="cuda").load().close()
    assert any(issubclass(w.category, EdgeattnWarning) and "CUDAExecutionProvider" in str(w.message) for w in caught)


def test_report_json_and_report_md_on_one_file_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    same = tmp_path / "report.txt"
    result = CliRunner().invoke(app, ["validate", str(tiny_model), "--report-json", str(same), "--report-md", str(same)])
    assert result.exit_code == 1 and "--report-md" in result.output and "also the destination of --report-json" in result.output
    assert not same.exists()
