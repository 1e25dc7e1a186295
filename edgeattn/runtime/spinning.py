"""Busy-waiting worker threads: off by default, so models sharing a machine do not starve each other.

ONNX Runtime's intra-op pool and PyTorch's OpenMP pool spin for a while after each parallel
region, waiting for the next one. For a single model alone on the machine that saves a wake-up
per operator; for a process hosting several models (a service, an interleaved benchmark) the idle
ones keep every core busy while another one runs. Issue 15 measured it on 2 cores: se_resnet50
FP32 49.3 ms with spinning, 23.8 ms without, in the same five-variant interleaved run.

ORT's switch is a session option (``session.intra_op.allow_spinning``, set by the ONNX Runtime
runner's ``spinning=`` argument). GNU OpenMP (PyTorch's pool on Linux) reads ``OMP_WAIT_POLICY``
once, when the library is loaded at ``import torch``: :func:`passive_openmp` sets it to
``PASSIVE`` if torch is not imported yet and reports what applies.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV = "OMP_WAIT_POLICY"


def passive_openmp() -> dict[str, Any]:
    """Ask for ``OMP_WAIT_POLICY=PASSIVE`` before torch loads OpenMP; say what is in effect.

    A value the user exported is kept. Returns ``{"omp_wait_policy": value or None,
    "applies": bool}``; ``applies`` is False when torch was imported before the variable was
    set, in which case the OpenMP runtime kept whatever it read then (active spinning by default).
    """
    torch_loaded = "torch" in sys.modules
    before = os.environ.get(ENV)
    if before is None and not torch_loaded:
        os.environ[ENV] = "PASSIVE"
    value = os.environ.get(ENV)
    return {"omp_wait_policy": value, "applies": value is not None and (before is not None or not torch_loaded)}
