"""Optimization profiles: the (min, opt, max) shape of every network input.

TensorRT builds kernels valid for the whole range of one profile and tunes them for ``opt``
(``IOptimizationProfile.set_shape(input, min, opt, max)``). We derive profiles from the ONNX input
shapes: a symbolic or unknown leading axis is the batch (``min_batch``/``opt_batch``/``max_batch``),
fixed axes stay fixed, and any other symbolic axis must be given explicitly with ``shapes``.
The default ``opt_batch`` is 1 because edge deployments are latency-bound at batch 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Tuple

from ..errors import InputError
from .onnx_info import OnnxInput

Shape = Tuple[int, ...]  # typing.Tuple: an evaluated alias, tuple[...] needs Python 3.9


@dataclass(frozen=True)
class Profile:
    """Shape range of one input."""

    name: str
    min: Shape
    opt: Shape
    max: Shape

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        return cls(str(d["name"]), tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]))

    def contains(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(
            lo <= s <= hi for s, lo, hi in zip(shape, self.min, self.max)
        )

    def describe(self) -> str:
        fmt = format_shape
        if self.min == self.max:
            return f"{self.name}: {fmt(self.min)}"
        return f"{self.name}: min {fmt(self.min)}, opt {fmt(self.opt)}, max {fmt(self.max)}"


def format_shape(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def parse_shape_spec(spec: str | None) -> dict[str, Shape]:
    """Parse trtexec-style ``"input:1x3x224x224,other:1x10"`` into ``{name: shape}``."""
    if not spec:
        return {}
    out: dict[str, Shape] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, dims = item.rpartition(":")
        if not sep or not name or not dims:
            raise InputError(f"shape spec {item!r} is not NAME:DxDxD", hint="e.g. --shapes input:1x3x224x224")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise InputError(f"shape spec {item!r}: dimensions must be integers separated by 'x'") from None
        if any(d < 1 for d in shape):
            raise InputError(f"shape spec {item!r}: every dimension must be >= 1")
        out[name] = shape
    return out


def _is_dynamic(d: int | str | None) -> bool:
    return d is None or isinstance(d, str) or (isinstance(d, int) and d < 0)


def compute_profiles(
    inputs: Sequence[OnnxInput],
    *,
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
    default_max_batch: int = 32,
    min_shapes: Mapping[str, Shape] | None = None,
    opt_shapes: Mapping[str, Shape] | None = None,
    max_shapes: Mapping[str, Shape] | None = None,
) -> list[Profile]:
    """One profile entry per input; raise :class:`InputError` on an impossible range."""
    min_shapes, opt_shapes, max_shapes = dict(min_shapes or {}), dict(opt_shapes or {}), dict(max_shapes or {})
    names = {i.name for i in inputs}
    for given in (min_shapes, opt_shapes, max_shapes):
        unknown = sorted(set(given) - names)
        if unknown:
            raise InputError(f"shapes given for unknown input(s) {unknown}; the ONNX inputs are {sorted(names)}")
    batch_requested = any(b is not None for b in (min_batch, opt_batch, max_batch))
    lo_b = 1 if min_batch is None else min_batch
    hi_b = max(default_max_batch, lo_b) if max_batch is None else max_batch
    opt_b = min(max(lo_b, 1), hi_b) if opt_batch is None else opt_batch
    if not 1 <= lo_b <= opt_b <= hi_b:
        raise InputError(
            f"batch range must satisfy 1 <= min <= opt <= max, received min={lo_b} opt={opt_b} max={hi_b}"
        )
    profiles: list[Profile] = []
    for inp in inputs:
        if inp.name in min_shapes or inp.name in opt_shapes or inp.name in max_shapes:
            # Any one of the three given: the missing ones default to the given ones.
            present = [s for s in (min_shapes.get(inp.name), opt_shapes.get(inp.name), max_shapes.get(inp.name)) if s]
            lo = min_shapes.get(inp.name) or present[0]
            opt = opt_shapes.get(inp.name) or lo
            hi = max_shapes.get(inp.name) or opt
            profile = Profile(inp.name, tuple(lo), tuple(opt), tuple(hi))
            _check_against_onnx(inp, profile)
        else:
            lo_l, opt_l, hi_l = [], [], []
            for axis, d in enumerate(inp.shape):
                if not _is_dynamic(d):
                    fixed_dim = int(d)  # type: ignore[arg-type]  # not dynamic: a number
                    lo_l.append(fixed_dim)
                    opt_l.append(fixed_dim)
                    hi_l.append(fixed_dim)
                elif axis == 0:
                    lo_l.append(lo_b)
                    opt_l.append(opt_b)
                    hi_l.append(hi_b)
                else:
                    raise InputError(
                        f"input {inp.name!r} has a dynamic axis {axis} ({d!r}) besides the batch; "
                        "its range cannot be guessed",
                        hint=f"give it: --shapes {inp.name}:{_example(inp)} (or --min-shapes/--opt-shapes/--max-shapes)",
                    )
            if inp.shape and not _is_dynamic(inp.shape[0]) and batch_requested:
                fixed = inp.shape[0]
                if any(b is not None and b != fixed for b in (min_batch, opt_batch, max_batch)):
                    asked = ", ".join(
                        f"{label} {b}" for label, b in (("min", min_batch), ("opt", opt_batch), ("max", max_batch)) if b is not None
                    )
                    raise InputError(
                        f"input {inp.name!r} has a fixed batch of {fixed} in the ONNX, but batch {asked} was requested",
                        hint="re-export with a dynamic batch axis (edgeattn export's default), or drop the batch options",
                    )
            profile = Profile(inp.name, tuple(lo_l), tuple(opt_l), tuple(hi_l))
        _check_order(profile)
        profiles.append(profile)
    return profiles


def _example(inp: OnnxInput) -> str:
    return "x".join(str(d) if isinstance(d, int) and d > 0 else ("1" if i == 0 else "224") for i, d in enumerate(inp.shape))


def _check_against_onnx(inp: OnnxInput, profile: Profile) -> None:
    for label, shape in (("min", profile.min), ("opt", profile.opt), ("max", profile.max)):
        if len(shape) != len(inp.shape):
            raise InputError(
                f"{label} shape {format_shape(shape)} for {inp.name!r} has rank {len(shape)}, "
                f"the ONNX input has rank {len(inp.shape)}"
            )
        for axis, (s, d) in enumerate(zip(shape, inp.shape)):
            if not _is_dynamic(d) and s != d:
                raise InputError(
                    f"{label} shape {format_shape(shape)} for {inp.name!r}: axis {axis} is fixed to {d} in the ONNX"
                )


def _check_order(profile: Profile) -> None:
    for axis, (lo, opt, hi) in enumerate(zip(profile.min, profile.opt, profile.max)):
        if not 1 <= lo <= opt <= hi:
            raise InputError(
                f"profile for {profile.name!r} axis {axis}: need 1 <= min <= opt <= max, "
                f"received {lo}, {opt}, {hi}"
            )


def static_for_dla(profiles: Sequence[Profile], *, range_requested: bool) -> tuple[list[Profile], str | None]:
    """Profiles a DLA build can use: min = opt = max (NvInfer.h ``addInput``, docs/tensorrt.md F12).

    A dynamic range the user asked for is an error; the default range becomes the opt shape, with
    a note saying so. Returns the profiles and that note (``None`` when nothing changed).
    """
    dynamic = [p for p in profiles if p.min != p.max]
    if not dynamic:
        return list(profiles), None
    if range_requested:
        raise InputError(
            f"DLA needs a static input shape (min = opt = max), received {dynamic[0].describe()}",
            hint="give one shape: --min-batch N --max-batch N (same N), or --shapes NAME:1x3x224x224",
        )
    fixed = [Profile(p.name, p.opt, p.opt, p.opt) for p in profiles]
    shapes = ", ".join(p.describe() for p in fixed)
    return fixed, f"DLA needs a static input shape: the profile is fixed at {shapes} (pass --max-batch N --min-batch N for another)"
