"""The ``edgeattn`` command line: one module per command, each a thin layer over the library.

Help is Click's plain layout (it wraps help text at any terminal width and never cuts a flag
name), and usage errors are Click's usage message with exit 2. Shell completion:
``edgeattn --install-completion`` (bash, zsh, fish, PowerShell).
"""

import logging
import sys

import typer

from . import bench, build, doctor, export, fold, inspect_model, models, quantize, triton, validate
from ._errors import handle_errors
from ._options import Command

app = typer.Typer(
    name="edgeattn",
    help="Export, quantize, build, validate and benchmark SE/CBAM attention CNNs for edge deployment.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

for _name, _module in (
    ("models", models),
    ("inspect", inspect_model),
    ("export", export),
    ("fold", fold),
    ("quantize", quantize),
    ("build", build),
    ("validate", validate),
    ("bench", bench),
    ("triton", triton),
    ("doctor", doctor),
):
    app.command(_name, help=_module.__doc__, cls=Command)(handle_errors(_module.command))


class _StderrNote(logging.Handler):
    """Notes of the runtime (``auto`` timing the ONNX readers takes seconds) as plain stderr lines;
    ``sys.stderr`` looked up at each note, so a replaced stream (a test's runner) is the one written."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def _show_runtime_notes() -> None:
    logger = logging.getLogger("edgeattn.runtime")
    if not any(isinstance(h, _StderrNote) for h in logger.handlers):
        logger.addHandler(_StderrNote())
        logger.setLevel(logging.INFO)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the edgeattn version and exit."),
) -> None:
    _show_runtime_notes()
    if version:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def main() -> None:
    app(prog_name="edgeattn")
