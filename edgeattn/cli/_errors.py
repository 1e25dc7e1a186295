"""Map library exceptions to one-line ``Error: ...`` messages and exit codes.

Exit codes: 0 success, 1 failed check or handled error, 2 usage error (Typer/Click's own).
Set ``EDGEATTN_DEBUG=1`` to get the full traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any, Callable, TextIO, TypeVar

import typer

from ..errors import EdgeattnError, EdgeattnWarning

F = TypeVar("F", bound=Callable[..., Any])


def print_error(message: str, hint: str | None = None) -> None:
    """``Error: message`` (and ``Hint: hint``) on stderr. Both are plain text: brackets in a path
    or a state-dict key (``ckpt[best].pt``) are printed, not read as rich markup."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold red]Error:[/] {escape(message)}", markup=True)
    if hint:
        console.print(f"[dim]Hint:[/] {escape(hint)}", markup=True)


# Where ``echo_json`` writes while a --json command runs: the real stdout, kept apart from what
# libraries print (ONNX Runtime's provider-fallback banner is a plain print()).
_json_stream: list[TextIO] = []


def echo_json(data: Any) -> None:
    """Print the one JSON document of a ``--json`` command on stdout."""
    stream = _json_stream[-1] if _json_stream else sys.stdout
    stream.write(json.dumps(data, indent=2, default=str) + "\n")
    stream.flush()


@contextlib.contextmanager
def _stdout_for_json_only() -> Iterator[None]:
    """Send everything else written to stdout (Python prints and C-level writes to fd 1) to stderr."""
    sys.stdout.flush()
    try:
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests): Python level only
        _json_stream.append(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        finally:
            _json_stream.pop()
        return
    saved = os.dup(out_fd)
    os.dup2(err_fd, out_fd)
    real = open(saved, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - closed below
    _json_stream.append(real)
    try:
        yield
    finally:
        _json_stream.pop()
        real.flush()
        sys.stdout.flush()
        os.dup2(saved, out_fd)
        real.close()
        os.close(saved)


def handle_errors(func: F) -> F:
    """Decorator for command functions: EdgeattnError -> ``Error: ...`` on stderr, exit 1;
    EdgeattnWarning -> ``Warning: ...`` on stderr; with ``--json``, stdout carries the JSON only."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        json_only = bool(kwargs.get("json_output") or kwargs.get("as_json"))
        try:
            with warnings.catch_warnings(), (_stdout_for_json_only() if json_only else contextlib.nullcontext()):
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return func(*args, **kwargs)
        except EdgeattnError as exc:
            if os.environ.get("EDGEATTN_DEBUG"):
                raise
            print_error(exc.message, exc.hint)
            raise typer.Exit(1) from None
        except ModuleNotFoundError as exc:
            # An optional module imported deep inside a command: name the extra, not the traceback.
            from .._lazy import missing_extra

            error = missing_extra(exc)
            if error is None or os.environ.get("EDGEATTN_DEBUG"):
                raise
            print_error(error.message, error.hint)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print_error("interrupted")
            raise typer.Exit(130) from None
        except FileNotFoundError as exc:
            if os.environ.get("EDGEATTN_DEBUG"):
                raise
            print_error(f"file not found: {exc.filename or exc}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _show_warning(
    previous: Callable[..., None],
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """EdgeattnWarning is for users: one ``Warning: ...`` line, not Python's file:line format.
    Every other warning goes on to the handler that was in place (``previous``)."""
    if issubclass(category, EdgeattnWarning):
        from rich.markup import escape

        print_warning(escape(str(message)))
    else:
        previous(message, category, filename, lineno, file, line)


def print_warning(message: str) -> None:
    """``Warning: ...`` on stderr (for EdgeattnWarning and other user-facing cautions).

    ``message`` is rich markup: escape (``rich.markup.escape``) any text that is not.
    """
    from rich.console import Console

    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[bold yellow]Warning:[/] {message}", markup=True)


def report_console():  # type: ignore[no-untyped-def]
    """A rich console for result tables on stdout.

    Piped or redirected output (CI logs, ``| tee``) would otherwise be cut to 80 columns and the
    numbers in wide tables elided; there the width is generous and the table keeps every digit.
    """
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(soft_wrap=True, highlight=False)
    return Console(soft_wrap=True, highlight=False, width=200)
