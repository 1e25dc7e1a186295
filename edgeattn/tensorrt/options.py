"""Build options: validation and the ``edgeattn build`` command line that reproduces them."""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..graph import PRECISIONS
from .profiles import Shape, format_shape

HARDWARE_COMPATIBILITY = {
    "none": "NONE",
    "ampere_plus": "AMPERE_PLUS",
    "same_compute_capability": "SAME_COMPUTE_CAPABILITY",
}
PRECISION_CHOICES = PRECISIONS
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(value: int | str | None) -> int | None:
    """``"2G"``/``"512MiB"``/``1073741824`` -> bytes."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value <= 0:
            raise InputError(f"workspace must be > 0 bytes, received {value}")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise InputError(f"size {value!r} is not a number with an optional K/M/G/T suffix", hint="e.g. --workspace 2G")
    number, unit = float(m.group(1)), m.group(2).lower()
    size = int(number * (1 << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit]))
    if size <= 0:
        raise InputError(f"workspace must be > 0 bytes, received {value!r}")
    return size


@dataclass
class BuildOptions:
    """Everything ``build`` accepts besides the input and output paths."""

    precision: str | None = None  # None: from the ONNX
    classic_fp16: bool = False
    classic_int8_calibration: Any = None  # path (.npy/.npz/image folder) or numpy array [N,C,H,W]
    calibration_cache: str | None = None
    calibration_batch_size: int = 8
    calibration_limit: int | None = 512
    min_batch: int | None = None
    opt_batch: int | None = None
    max_batch: int | None = None
    min_shapes: dict[str, Shape] = field(default_factory=dict)
    opt_shapes: dict[str, Shape] = field(default_factory=dict)
    max_shapes: dict[str, Shape] = field(default_factory=dict)
    workspace: int | str | None = None
    builder_optimization_level: int | None = None
    timing_cache: str | None = None
    ignore_timing_cache_mismatch: bool = False
    dla_core: int | None = None
    gpu_fallback: bool = True
    hardware_compatibility: str = "none"
    version_compatible: bool = False
    exclude_lean_runtime: bool = False
    strongly_typed: bool = True
    contexts: int = 1  # TensorRT 8.5: concurrent execution contexts, one optimization profile each
    tf32: bool = False  # TensorRT's default is on (Ampere+): FP32 layers would round inputs to 10 bits
    profiling_verbosity: str = "detailed"
    verbose: bool = False

    def validate(self) -> BuildOptions:
        if self.precision is not None and self.precision not in PRECISION_CHOICES:
            raise InputError(f"precision {self.precision!r} is not one of {', '.join(PRECISION_CHOICES)}")
        hw = str(self.hardware_compatibility).lower().replace("-", "_")
        if hw not in HARDWARE_COMPATIBILITY:
            raise InputError(
                f"hardware compatibility {self.hardware_compatibility!r} is not one of {', '.join(HARDWARE_COMPATIBILITY)}"
            )
        self.hardware_compatibility = hw
        lvl = self.builder_optimization_level
        if lvl is not None and not 0 <= int(lvl) <= 5:
            raise InputError(f"builder optimization level must be 0..5, received {lvl}")
        self.workspace = parse_size(self.workspace)
        if self.dla_core is not None and self.dla_core < 0:
            raise InputError(f"DLA core must be >= 0, received {self.dla_core}")
        if self.contexts < 1:
            raise InputError(f"contexts must be >= 1, received {self.contexts}")
        if self.calibration_batch_size < 1:
            raise InputError(f"calibration batch size must be >= 1, received {self.calibration_batch_size}")
        if self.exclude_lean_runtime and not self.version_compatible:
            raise InputError("--exclude-lean-runtime only applies to version-compatible engines: add --version-compatible")
        if self.profiling_verbosity not in ("detailed", "layer_names_only", "none"):
            raise InputError(f"profiling verbosity {self.profiling_verbosity!r} is not detailed/layer_names_only/none")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        cal = self.classic_int8_calibration
        d["classic_int8_calibration"] = None if cal is None else (str(cal) if isinstance(cal, (str, Path)) else "<array>")
        for key in ("min_shapes", "opt_shapes", "max_shapes"):
            d[key] = {k: list(v) for k, v in getattr(self, key).items()}
        return d


def rebuild_command(onnx_path: str, engine_path: str, options: BuildOptions) -> str:
    """The ``edgeattn build`` command line that rebuilds this engine with the same options."""
    o = options
    cal = o.classic_int8_calibration

    def shapes(s: dict[str, Shape]) -> str | None:
        return ",".join(f"{k}:{format_shape(v)}" for k, v in s.items()) or None

    # In command-line order. None or False: the flag is left out (the build's default);
    # True: a switch; anything else: the flag and its value.
    flags: list[tuple[str, Any]] = [
        ("--precision", o.precision or None),
        ("--classic-fp16", o.classic_fp16),
        ("--classic-int8-calibration", str(cal) if isinstance(cal, (str, Path)) else None),
        ("--calibration-cache", o.calibration_cache or None),
        ("--min-batch", o.min_batch),
        ("--opt-batch", o.opt_batch),
        ("--max-batch", o.max_batch),
        ("--min-shapes", shapes(o.min_shapes)),
        ("--opt-shapes", shapes(o.opt_shapes)),
        ("--max-shapes", shapes(o.max_shapes)),
        ("--workspace", o.workspace or None),
        ("--opt-level", o.builder_optimization_level),
        ("--timing-cache", o.timing_cache or None),
        ("--dla-core", o.dla_core),
        ("--no-gpu-fallback", o.dla_core is not None and not o.gpu_fallback),
        ("--hardware-compatibility", None if o.hardware_compatibility == "none" else o.hardware_compatibility),
        ("--version-compatible", o.version_compatible),
        ("--exclude-lean-runtime", o.exclude_lean_runtime),
        ("--no-strongly-typed", not o.strongly_typed),
        ("--contexts", None if o.contexts == 1 else o.contexts),
        ("--tf32", o.tf32),
    ]
    args = ["edgeattn", "build", str(onnx_path), "-o", str(engine_path)]
    for flag, value in flags:
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return shlex.join(args)
