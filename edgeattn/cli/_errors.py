"""Map library exceptions to one-line ``Error: ...`` messages and exit codes.

Exit codes: 0 success, 1 failed check or handled error, 2 usage error (Typer/Click's own).
Set ``EDGEATTN_DEBUG=1`` to get the full traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from typing import Any, Callable, TypeVar

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


def handle_errors(func: F) -> F:
    """Decorator for command functions: EdgeattnError -> ``Error: ...`` on stderr, exit 1;
    EdgeattnWarning -> ``Warning: ...`` on stderr."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return func(*args, **kwargs)
        except EdgeattnError as exc:
            if os.environ.get("EDGEATTN_DEBUG"):
                raise
            print_error(exc.message, exc.hint)
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
