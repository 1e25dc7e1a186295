"""The error/warning mapping every command goes through (edgeattn/cli/_errors.py)."""

from __future__ import annotations

import warnings

import pytest
import typer

from edgeattn.cli._errors import handle_errors
from edgeattn.errors import CheckpointError, EdgeattnWarning


def test_edgeattn_error_is_one_line_and_exit_1(capsys) -> None:
    @handle_errors
    def command() -> None:
        raise CheckpointError("ckpt[best].pt is truncated", hint="save it again")

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == 1
    err = capsys.readouterr().err
    assert "Error: ckpt[best].pt is truncated" in err and "Hint: save it again" in err
    assert "Traceback" not in err


def test_edgeattn_warning_is_a_warning_line_and_others_keep_python_format(capsys) -> None:
    @handle_errors
    def command() -> str:
        warnings.warn("loaded with --non-strict: 2 keys missing [fc.bias]", EdgeattnWarning, stacklevel=1)
        warnings.warn("a library's own notice", UserWarning, stacklevel=1)
        return "done"

    with pytest.warns(UserWarning, match="a library's own notice") as passed_on:
        assert command() == "done"
    err = capsys.readouterr().err
    assert "Warning: loaded with --non-strict: 2 keys missing [fc.bias]" in err
    # The user-facing warning is printed, not passed on; the library's goes to Python's machinery.
    assert [w.category for w in passed_on] == [UserWarning]
