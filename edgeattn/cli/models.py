"""(in progress) the 'models' command."""

from __future__ import annotations

import typer

from ..errors import EdgeattnError


def command() -> None:
    raise EdgeattnError("this command is being written")
