"""TensorRT logger capture and parser-error formatting.

The builder reports failures only through its logger (``build_serialized_network`` returns
``None``) and the ONNX parser through ``ParserError`` objects, so both are turned into one-line
messages that name the node, the operator and TensorRT's reason.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from types import ModuleType
from typing import Any

_log = logging.getLogger("edgeattn.tensorrt")


# A VERBOSE build of a ResNet-50 logs hundreds of thousands of lines (one per tactic tried);
# errors are what messages are kept for, so they get their own, smaller bound.
MAX_MESSAGES = 2000
MAX_ERRORS = 200


def make_logger(trt: ModuleType, *, verbose: bool = False) -> Any:
    """An ``ILogger`` subclass instance that keeps the latest messages and forwards them to ``logging``."""
    severity = trt.ILogger.Severity

    logger_base: Any = trt.ILogger  # a class of the TensorRT module loaded at runtime

    class CapturingLogger(logger_base):
        def __init__(self) -> None:
            logger_base.__init__(self)
            self.messages: deque[tuple[str, str]] = deque(maxlen=MAX_MESSAGES)
            self._errors: deque[str] = deque(maxlen=MAX_ERRORS)
            self._lock = threading.Lock()
            self._min = severity.VERBOSE if verbose else severity.WARNING

        def log(self, sev: Any, msg: str) -> None:  # noqa: D401 - TensorRT callback
            name = getattr(sev, "name", str(sev))
            with self._lock:
                self.messages.append((name, str(msg)))
                if name in ("ERROR", "INTERNAL_ERROR"):
                    self._errors.append(str(msg))
            if int(sev) <= int(self._min):
                level = logging.ERROR if int(sev) <= int(severity.ERROR) else (
                    logging.WARNING if int(sev) == int(severity.WARNING) else logging.DEBUG
                )
                _log.log(level, "TensorRT: %s", msg)

        def errors(self) -> list[str]:
            with self._lock:  # one line each: they end up in one-line error messages
                return [" ".join(m.split()) for m in self._errors]

        def clear(self) -> None:
            with self._lock:
                self.messages.clear()
                self._errors.clear()

    return CapturingLogger()


def _call(obj: Any, name: str) -> Any:
    fn = getattr(obj, name, None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception:
        return None


def format_parser_error(error: Any) -> str:
    """``node 12 'layer3.2.se' (SqueezeExcite): <reason>`` from a ``ParserError``.

    ``node_name``/``node_operator``/``local_function_stack`` exist from TensorRT 10.x on (the 8.5
    and 8.6 bindings have ``node`` only: pyOnnx.cpp on release/8.5, release/8.6, release/10.3).
    """
    desc = str(_call(error, "desc") or error)
    node = _call(error, "node")
    name = _call(error, "node_name")
    op = _call(error, "node_operator")
    stack = _call(error, "local_function_stack")
    where = []
    if node is not None and node != -1:
        where.append(f"node {node}")
    if name:
        where.append(repr(str(name)))
    if op:
        where.append(f"({op})")
    text = " ".join(where)
    if stack:
        text += f" in local function {' > '.join(str(s) for s in stack)}"
    return f"{text}: {desc}" if text else desc


def parser_errors(parser: Any) -> list[str]:
    return [format_parser_error(parser.get_error(i)) for i in range(int(parser.num_errors))]
