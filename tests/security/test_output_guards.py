"""No output path may overwrite an input or an input's sidecar; a failed run changes no destination."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

import edgeattn
from edgeattn._io import atomic_outputs, check_outputs, sidecar_path
from edgeattn.cli import app
from edgeattn.errors import InputError
from tests.tiny_onnx import tiny_classifier


@pytest.fixture()
def model_with_sidecar(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    """A small FP32 conv classifier (quantizable) with provenance and a sidecar."""
    model = tiny_classifier(metadata={"edgeattn.provenance": {"source": "se_resnet50"}})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    sidecar_path(path).write_text(json.dumps({"provenance": {"source": "se_resnet50"}}))
    return path, path.read_bytes(), sidecar_path(path).read_bytes()


def _unchanged(path: Path, model: bytes, side: bytes) -> bool:
    return path.read_bytes() == model and sidecar_path(path).read_bytes() == side


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("option", ["--report-json", "--report-md"])
@pytest.mark.parametrize("target", ["model", "sidecar"])
def test_validate_report_cannot_replace_the_model_or_its_sidecar(model_with_sidecar, option, target):
    path, model, side = model_with_sidecar
    destination = path if target == "model" else sidecar_path(path)
    result = CliRunner().invoke(app, ["validate", str(path), "--model", "se_resnet50", option, str(destination)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {option}: received") and "which is the" in result.output
    assert _unchanged(path, model, side)


def test_validate_two_reports_on_one_file_are_refused(model_with_sidecar, tmp_path):
    path, _, _ = model_with_sidecar
    report = tmp_path / "r.txt"
    result = CliRunner().invoke(
        app, ["validate", str(path), "--model", "se_resnet50", "--report-json", str(report), "--report-md", str(report)]
    )
    assert result.exit_code == 1
    assert "also the destination of --report-json" in result.output
    assert not report.exists()


def test_validate_report_cannot_replace_the_inputs_file(model_with_sidecar, tmp_path):
    path, _, _ = model_with_sidecar
    data = tmp_path / "inputs.npy"
    np.save(data, np.zeros((1, 3, 8, 8), np.float32))
    before = data.read_bytes()
    result = CliRunner().invoke(
        app, ["validate", str(path), "--model", "se_resnet50", "--inputs", str(data), "--report-json", str(data)]
    )
    assert result.exit_code == 1 and "--report-json" in result.output
    assert data.read_bytes() == before


@pytest.mark.parametrize("option", ["--report-json", "--report-md", "--chart"])
def test_bench_outputs_cannot_replace_a_target(model_with_sidecar, option, tmp_path):
    path, model, side = model_with_sidecar
    # A link to the model is the model: different spellings of one file are caught too.
    link = tmp_path / "link.png"
    os.symlink(path, link)
    destination = link if option == "--chart" else path
    result = CliRunner().invoke(app, ["bench", f"{path}@onnxruntime", "--iterations", "1", "--warmup", "0", option, str(destination)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {option}: received")
    assert _unchanged(path, model, side)


def test_quantize_output_on_the_input_sidecar_fails_before_touching_it(model_with_sidecar):
    path, model, side = model_with_sidecar
    with pytest.raises(InputError, match="--output: received .*m.onnx.json, which is the sidecar of the input"):
        edgeattn.quantize(path, sidecar_path(path), "fp16")
    assert _unchanged(path, model, side)


def test_quantize_output_whose_sidecar_is_the_calibration_file_is_refused(model_with_sidecar, tmp_path):
    path, model, side = model_with_sidecar
    calibration = tmp_path / "q.onnx.json"
    calibration.write_text("[]")
    with pytest.raises(InputError, match="the output's sidecar"):
        edgeattn.quantize(path, tmp_path / "q.onnx", "int8", calibration=calibration)
    assert calibration.read_text() == "[]" and not (tmp_path / "q.onnx").exists()


def test_quantize_writes_model_and_sidecar_together(model_with_sidecar, tmp_path):
    path, _, _ = model_with_sidecar
    out = tmp_path / "half.onnx"
    edgeattn.quantize(path, out, "fp16")
    assert json.loads(sidecar_path(out).read_text())["precision"] == "fp16"
    assert _no_temp_files(tmp_path)


def test_export_output_equal_to_the_checkpoint_is_refused_before_loading(tmp_path):
    checkpoint = tmp_path / "weights.onnx"
    checkpoint.write_bytes(b"not read")
    with pytest.raises(InputError, match="--output: received .*which is the input"):
        edgeattn.export("se_resnet50", checkpoint, checkpoint=checkpoint)
    assert checkpoint.read_bytes() == b"not read"


def test_build_output_and_caches_cannot_be_the_onnx_even_without_tensorrt(model_with_sidecar, tmp_path):
    from edgeattn.tensorrt import build

    path, model, side = model_with_sidecar
    with pytest.raises(InputError, match="--timing-cache: received .*which is the input"):
        build(path, tmp_path / "m.engine", timing_cache=str(path))
    with pytest.raises(InputError, match="--output: received .*m.onnx, which is the input"):
        build(path, tmp_path / "m.onnx")
    with pytest.raises(InputError, match="--calibration-cache: received .*also the destination of --timing-cache"):
        build(path, tmp_path / "m.engine", timing_cache=str(tmp_path / "c"), calibration_cache=str(tmp_path / "c"))
    assert _unchanged(path, model, side)


def test_check_outputs_names_the_option_and_the_input(tmp_path):
    source = tmp_path / "a.onnx"
    source.write_text("x")
    with pytest.raises(InputError, match=r"^-o: received .*a\.onnx, which is the input .*a\.onnx; expected a different path$"):
        check_outputs([source], {"-o": tmp_path / "sub" / ".." / "a.onnx"})
    check_outputs([source], {"-o": tmp_path / "b.onnx", "--report": None})  # unrelated paths pass
    check_outputs([None], {"-o": tmp_path / "b.onnx"})
    check_outputs([source], {"-o": sidecar_path(source)}, input_sidecars=False)


def test_atomic_outputs_commit_all_or_nothing(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.txt"
    first.write_text("old a")
    with pytest.raises(RuntimeError):
        with atomic_outputs() as outputs:
            outputs.write_json(first, {"new": 1})
            outputs.write_text(second, "new b")
            raise RuntimeError("failed after writing")
    assert first.read_text() == "old a" and not second.exists()
    assert _no_temp_files(tmp_path)

    with atomic_outputs() as outputs:
        assert _no_temp_files(tmp_path)  # nothing is created before a file is written
        outputs.write_json(first, {"new": 1})
        outputs.write_text(second, "new b")
        assert first.read_text() == "old a"  # nothing is visible before the commit
    assert json.loads(first.read_text()) == {"new": 1} and second.read_text() == "new b"
    assert _no_temp_files(tmp_path)
    mode = first.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_output_set_reuses_one_temporary_per_destination_and_forgets_discarded_files(tmp_path):
    from edgeattn._io import OutputSet

    outputs = OutputSet()
    first = outputs.path(tmp_path / "a.txt")
    assert outputs.path(tmp_path / "a.txt") == first  # asked twice, still one temporary file
    outputs.write_text(tmp_path / "a.txt", "größe ✓")  # written as UTF-8 whatever the locale says
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]) == 1
    first.unlink()  # a temporary file already gone is not an error when discarding
    outputs.discard()
    assert _no_temp_files(tmp_path)
    outputs.commit()  # nothing left to rename after a discard
    assert not (tmp_path / "a.txt").exists()

    outputs.write_text(tmp_path / "b.txt", "größe ✓")
    outputs.commit()
    assert (tmp_path / "b.txt").read_bytes() == "größe ✓".encode()
    assert outputs.path(tmp_path / "b.txt") != first and _no_temp_files(tmp_path) is False
    outputs.discard()
    assert _no_temp_files(tmp_path)


def test_json_files_are_readable_indented_in_order_and_end_with_a_newline(tmp_path):
    from edgeattn._io import write_json_atomic

    target = write_json_atomic(tmp_path / "r.json", {"zeta": 1, "alpha": {"path": tmp_path}})
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text.count("\n") == 6  # one key per line, two-space indents
    assert text.splitlines()[1] == '  "zeta": 1,'  # the caller's order, not sorted
    assert json.loads(text) == {"zeta": 1, "alpha": {"path": str(tmp_path)}}  # a Path is written as text
