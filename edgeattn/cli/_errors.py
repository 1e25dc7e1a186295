"""Map library exceptions to one-line ``Error: ...`` messages and exit codes.

Exit codes: 0 success, 1 failed check or error, 2 usage error (Typer/Click's own), 130
interrupted (SIGINT), 143 terminated (SIGTERM).
Set ``EDGEATTN_DEBUG=1`` to get the full traceback instead.
"""

import contextlib
import errno
import functools
import json
import os
import re
import signal
import sys
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, TextIO, Tuple, Type, TypeVar

import click
import typer

from ..errors import EdgeattnError, EdgeattnWarning, Terminated, os_error_cause

if TYPE_CHECKING:
    from rich.console import Console  # imported when a table is printed (start-up time)

F = TypeVar("F", bound=Callable[..., Any])

# Click's exceptions pass through the boundary untouched (Typer prints them; usage errors exit 2).
# Newer Typer vendors its own copy of Click, whose exceptions are not the installed Click's.
_CLICK_EXCEPTIONS: Tuple[Type[BaseException], ...] = tuple(
    {click.exceptions.ClickException, *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")}
)
_PASS_THROUGH: Tuple[Type[BaseException], ...] = (typer.Exit, typer.Abort, *_CLICK_EXCEPTIONS)


def print_error(message: str, hint: Optional[str] = None) -> None:
    """``Error: message`` (and ``Hint: hint``) on stderr. Both are plain text: brackets in a path
    or a state-dict key (``ckpt[best].pt``) are printed, not read as rich markup."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold red]Error:[/] {escape(_ANSI.sub('', message))}", markup=True)
    if hint:
        console.print(f"[dim]Hint:[/] {escape(hint)}", markup=True)


# Where ``echo_json`` writes while a --json command runs: the real stdout, kept apart from what
# libraries print (ONNX Runtime's provider-fallback banner is a plain print()).
_json_stream: List[TextIO] = []


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


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

# Signals received during the command: a library that catches KeyboardInterrupt and raises its
# own error (torch's dynamo exporter does) is still reported as interrupted.
_SIGNALS_SEEN: List[int] = []


def _one_line(text: str) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text).strip().splitlines() if line.strip()]
    return (lines[0] if lines else "")[:300]


# What the runtimes' allocators say when memory runs out; they raise their own error types
# (ONNX Runtime's Fail from its BFC arena, PyTorch's RuntimeError from DefaultCPUAllocator).
_ALLOCATOR_FAILURES = ("Failed to allocate memory", "can't allocate memory", "CUDA out of memory", "out of memory")


def _is_allocator_failure(exc: BaseException) -> bool:
    text = str(exc)
    return type(exc).__name__ in ("Fail", "RuntimeError", "RuntimeException", "OutOfMemoryError") and any(
        marker in text for marker in _ALLOCATOR_FAILURES
    )


def describe_exception(exc: BaseException) -> Tuple[str, Optional[str]]:
    """The one-line message and hint for an exception that is not an EdgeattnError."""
    if isinstance(exc, OSError):
        cause = os_error_cause(exc)
        where = exc.filename
        if where is not None and exc.errno == errno.ENOENT:
            return f"file not found: {os.fsdecode(where)}", None
        if where is not None:
            other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
            return f"{os.fsdecode(where)}{other}: {cause}", None
        return cause, None
    if isinstance(exc, UnicodeDecodeError):
        message = (
            f"received bytes that are not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}); "
            "expected UTF-8 text (a JSON sidecar, ONNX metadata)"
        )
        return message, None
    if isinstance(exc, MemoryError) or _is_allocator_failure(exc):
        return "out of memory", "use fewer samples, a smaller batch or a smaller input"
    if isinstance(exc, RecursionError):
        return "the input nests too deeply to be read", None
    return (
        f"unexpected {type(exc).__name__}: {_one_line(str(exc)) or '(no message)'}",
        "re-run with EDGEATTN_DEBUG=1 for the traceback, and report it if the input was valid",
    )


def _raise_terminated(signum: int, frame: Any) -> None:
    _SIGNALS_SEEN.append(signum)
    raise Terminated()


def _raise_interrupted(signum: int, frame: Any) -> None:
    _SIGNALS_SEEN.append(signum)
    raise KeyboardInterrupt()


@contextlib.contextmanager
def _signal_handlers() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (every finally and atomic write cleans up); both are noted."""
    previous: Dict[int, Any] = {}
    try:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_terminated)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _raise_interrupted)
    except ValueError:  # not the main thread (e.g. a test runner's worker): leave signals alone
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit(message: str, hint: Optional[str], code: int) -> typer.Exit:
    print_error(message, hint)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """The one boundary of every command: each failure becomes one ``Error: ...`` line.

    EdgeattnError -> its message and hint, exit 1; SIGINT -> ``interrupted``, exit 130; SIGTERM ->
    ``terminated``, exit 143; OS errors, undecodable text and memory exhaustion -> the cause named,
    exit 1; anything else -> ``unexpected <type>: <message>``, exit 1. EdgeattnWarning ->
    ``Warning: ...``; with ``--json``, stdout carries the JSON only. Scratch files go to a per-run
    folder removed on exit.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .._workdir import run_folder

        debug = bool(os.environ.get("EDGEATTN_DEBUG"))
        json_only = bool(kwargs.get("json_output") or kwargs.get("as_json"))
        del _SIGNALS_SEEN[:]
        try:
            with _signal_handlers(), run_folder(), warnings.catch_warnings(), (
                _stdout_for_json_only() if json_only else contextlib.nullcontext()
            ):
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return func(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except Terminated:
            raise _exit("terminated", None, 143) from None
        except KeyboardInterrupt:
            raise _exit("interrupted", None, 130) from None
        except EdgeattnError as exc:
            if debug:
                raise
            raise _exit(exc.message, exc.hint, 1) from None
        except ModuleNotFoundError as exc:
            # An optional module imported deep inside a command: name the extra, not the traceback.
            from .._lazy import missing_extra

            error = missing_extra(exc)
            if debug:
                raise
            if error is not None:
                raise _exit(error.message, error.hint, 1) from None
            message, hint = describe_exception(exc)
            raise _exit(message, hint, 1) from None
        except Exception as exc:
            if _SIGNALS_SEEN:
                terminated = _SIGNALS_SEEN[-1] == signal.SIGTERM
                raise _exit("terminated" if terminated else "interrupted", None, 143 if terminated else 130) from None
            if debug:
                raise
            message, hint = describe_exception(exc)
            raise _exit(message, hint, 1) from None

    return wrapper  # type: ignore[return-value]


def _show_warning(
    previous: Callable[..., None],
    message: Any,
    category: Type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: Optional[str] = None,
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


def report_console() -> "Console":
    """A rich console for result tables on stdout.

    Piped or redirected output (CI logs, ``| tee``) would otherwise be cut to 80 columns and the
    numbers in wide tables elided; there the width is generous and the table keeps every digit.
    """
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(soft_wrap=True, highlight=False)
    return Console(soft_wrap=True, highlight=False, width=200)
