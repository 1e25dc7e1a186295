"""Issue 13 item 3: every failure a command meets ends in one ``Error: ...`` line naming the cause.

Each case is one the issue lists; each ran into a traceback (or a wrong message) before.
"""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.cli._errors import handle_errors
from edgeattn.artifact import ArtifactInfo
from edgeattn.data import load_samples, random_samples
from edgeattn.errors import CheckpointError, InputError, ModelSourceError


def _one_error_line(result, *needles: str) -> str:
    text = result.output
    assert result.exit_code == 1, text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, text
    for needle in needles:
        assert needle in text, text
    return lines[0]


def _boundary(exc: BaseException, capsys) -> tuple[int, str]:
    @handle_errors
    def command() -> None:
        raise exc

    with pytest.raises(typer.Exit) as info:
        command()
    return info.value.exit_code, capsys.readouterr().err


def test_non_utf8_sidecar_is_ignored_like_any_unreadable_sidecar(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")  # not parsed: the reader falls back to the sidecar
    (tmp_path / "x.onnx.json").write_bytes(b'{"provenance": {"source": "\xff\xfe"}}')
    assert ArtifactInfo.read(tmp_path / "x.onnx").provenance is None


def test_random_bytes_as_checkpoint_says_what_the_file_is(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    data = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(b"\x13" + data[1:])  # random, and not starting like a zip or a pickle
    result = CliRunner().invoke(app, ["inspect", "se_resnet_tiny", "--checkpoint", str(path)])
    line = _one_error_line(result, "not a PyTorch or safetensors checkpoint")
    assert "pickled" not in result.output and "--unsafe-pickle" not in result.output, line


def test_random_bytes_as_torchscript_model(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:  # looks like a TorchScript archive, holds garbage
        zf.writestr("model/constants.pkl", b"\x80\x02garbage")
        zf.writestr("model/code/__torch__.py", b"\xff\xfe")
        zf.writestr("model/data.pkl", b"")
    result = CliRunner().invoke(app, ["inspect", str(path)])
    line = _one_error_line(result, "cannot load TorchScript archive")
    assert not line.rstrip().endswith(":")


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.EACCES, "permission denied"),
        (errno.ENOSPC, "no space left on the device"),
        (errno.ENAMETOOLONG, "file name too long"),
        (errno.ENOTDIR, "a parent of the path is a file"),
    ],
)
def test_os_errors_name_their_cause(capsys, code: int, cause: str) -> None:
    exit_code, err = _boundary(OSError(code, "os text", "/some/file.onnx"), capsys)
    assert exit_code == 1
    assert err.startswith(f"Error: /some/file.onnx: {cause}") and "Traceback" not in err


def test_unreadable_model_is_one_line(capsys) -> None:
    exit_code, err = _boundary(PermissionError(errno.EACCES, "Permission denied", "model.pt"), capsys)
    assert exit_code == 1 and err.strip() == "Error: model.pt: permission denied"


def test_any_other_exception_is_one_line_with_a_debug_hint(capsys, monkeypatch) -> None:
    monkeypatch.delenv("EDGEATTN_DEBUG", raising=False)
    exit_code, err = _boundary(IndexError("list index out of range\nmore"), capsys)
    assert exit_code == 1
    assert err.splitlines()[0] == "Error: unexpected IndexError: list index out of range"
    assert "EDGEATTN_DEBUG=1" in err


def test_debug_keeps_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("EDGEATTN_DEBUG", "1")

    @handle_errors
    def command() -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        command()


@pytest.mark.parametrize("parent_kind", ["file", "long name"])
def test_report_destination_os_errors(tiny_model: Path, tmp_path: Path, parent_kind: str) -> None:
    if parent_kind == "file":
        (tmp_path / "plain.txt").write_text("x")
        destination, cause = tmp_path / "plain.txt" / "r.json", "a file of that name is in the way"
    else:
        destination, cause = tmp_path / ("r" * 300 + ".json"), "file name too long"
    from edgeattn._io import atomic_outputs

    with pytest.raises(InputError, match=cause), atomic_outputs() as outputs:
        outputs.write_text(destination, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.onnx"] + (["plain.txt"] if parent_kind == "file" else []))


def test_wrong_channel_count_for_export(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["export", "se_resnet_tiny", "--input-size", "4,32,32", "-o", str(tmp_path / "x.onnx")]
    )
    _one_error_line(result, "does not accept an input of shape [1, 4, 32, 32]", "channels")
    assert not (tmp_path / "x.onnx").exists()


def test_negative_seed_is_refused() -> None:
    with pytest.raises(InputError, match="seed: received -1"):
        random_samples((3, 8, 8), 2, seed=-1)


def test_object_dtype_npz(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, input=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="cannot read .*objects.npz"):
        load_samples(path, (3, 8, 8))


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_empty_arrays(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"empty.{kind}"
    if kind == "npy":
        np.save(path, np.zeros((0, 3, 8, 8), np.float32))
    else:
        np.savez(path)
    with pytest.raises(InputError):
        load_samples(path, (3, 8, 8))


def test_decompression_bomb_png(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    path = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40,000 pixels > 2 * 100: Pillow's bomb error
    with pytest.raises(InputError, match="bomb.png.*expected an image of a sane size"):
        load_samples(path, (3, 8, 8))


def test_incompatible_model_for_validate(tiny_model: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tiny_model), "--model", "no_such_model_xyz", "-n", "1"])
    _one_error_line(result, "no_such_model_xyz")


def test_directory_as_artifact(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path), "-n", "1"])
    _one_error_line(result, "is a directory")


def test_unicode_decode_error_is_named(capsys) -> None:
    exit_code, err = _boundary(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), capsys)
    assert exit_code == 1 and "not UTF-8 text" in err


def test_errors_are_classified_at_the_reader_not_only_at_the_top(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    from edgeattn.models.checkpoint import read_checkpoint

    with pytest.raises(CheckpointError, match="is a PNG image"):
        read_checkpoint(path)
    from edgeattn.models import load_model

    with pytest.raises(ModelSourceError, match="is a directory"):
        load_model(str(tmp_path))


def test_fuzz_findings_stay_fixed(tmp_path: Path) -> None:
    """Found by tests/fuzz/fuzz.py: a provenance source name too long for the file system, and a
    zip whose end record claims several disks (zipfile.is_zipfile itself raises for it)."""
    from edgeattn.errors import EdgeattnError
    from edgeattn.models.checkpoint import read_checkpoint
    from edgeattn.validation.reference import resolve_reference

    with pytest.raises(EdgeattnError):
        resolve_reference({"source": "x" * 5000 + ".py:create"}, tmp_path / "m.onnx", trust_provenance=True)
    path = tmp_path / "c.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 4 : end + 6] = b"\x01\x00"  # "number of this disk"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
