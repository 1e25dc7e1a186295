"""Simplify an exported graph (onnxsim) and check it: ``onnx.checker`` AND a run on ONNX Runtime.

The checker alone is not enough: a custom-domain node whose FunctionProto is missing passes
``check_model(full_check=True)`` but fails when ONNX Runtime loads the model.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping

import numpy as np
import onnx

from ..errors import ExportError


def simplify(model: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    """onnxsim's constant folding and dead-code removal; returns (model, changed_ok).

    onnxsim keeps ``edgeattn::`` function nodes intact. On failure the input is returned
    unchanged with ``False`` (simplification is an optimisation, never a requirement).
    """
    try:
        import onnxsim
    except ImportError:
        return model, False
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            simplified, ok = onnxsim.simplify(model, check_n=0)
    except Exception:  # noqa: BLE001 - onnxsim raises bare RuntimeErrors from C++
        return model, False
    if not ok:
        return model, False
    # onnxsim drops model-level functions it does not know to be used by nothing; keep ours.
    have = {(f.domain, f.name, getattr(f, "overload", "")) for f in simplified.functions}
    for fn in model.functions:
        if (fn.domain, fn.name, getattr(fn, "overload", "")) not in have:
            simplified.functions.append(fn)
    return simplified, True


def check(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the ONNX checker (full) and ONNX Runtime CPU on ``feeds``; return the outputs."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"the exported graph fails onnx.checker: {first}") from exc
    try:
        import onnxruntime as ort
    except ImportError:
        return {}
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, dict(feeds))))
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"the exported graph passes onnx.checker but does not run on ONNX Runtime: {first}",
            hint="retry with --fold inline or --fold none and report the model",
        ) from exc
