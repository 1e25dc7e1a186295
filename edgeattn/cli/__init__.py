"""The ``edgeattn`` command line: one module per command, each a thin layer over the library."""

from __future__ import annotations

import typer

from . import bench, build, doctor, export, inspect_model, models, quantize, triton, validate
from ._errors import handle_errors

app = typer.Typer(
    name="edgeattn",
    help="Export, quantize, build, validate and benchmark SE/CBAM attention CNNs for edge deployment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("models", help=models.__doc__)(handle_errors(models.command))
app.command("inspect", help=inspect_model.__doc__)(handle_errors(inspect_model.command))
app.command("export", help=export.__doc__)(handle_errors(export.command))
app.command("quantize", help=quantize.__doc__)(handle_errors(quantize.command))
app.command("build", help=build.__doc__)(handle_errors(build.command))
app.command("validate", help=validate.__doc__)(handle_errors(validate.command))
app.command("bench", help=bench.__doc__)(handle_errors(bench.command))
app.command("triton", help=triton.__doc__)(handle_errors(triton.command))
app.command("doctor", help=doctor.__doc__)(handle_errors(doctor.command))


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the edgeattn version and exit."),
) -> None:
    if version:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def main() -> None:
    app()
