"""The ONNX graph handed to TensorRT's parser, prepared for that parser's generation (pure ONNX).

One ONNX from the workstation builds on every target because ``build`` adapts it first:

* ``edgeattn::`` local functions are inlined here, each body node and intermediate tensor named
  ``<block>/<name>`` (:func:`edgeattn.graph.inline_functions`). onnx-tensorrt parses local
  functions only from 9.0 on (8.5/8.6: "No importer registered ... Plugin not found", F9), keys
  them by name alone and names inlined layers with one global suffix counter (F10), which loses
  the block a layer belongs to. Inlined here, every layer name carries its block's module path on
  every version. An op a registered TensorRT plugin implements keeps its node (and function).
* For TensorRT 8.x the graph is converted to opset 17 when it is newer: the 8.5/8.6 importers of
  ReduceMean/ReduceMax/... ignore the opset-18 ``axes`` *input* and reduce over all axes (F11),
  a parse that succeeds with wrong results. ONNX's version converter moves ``axes`` back into the
  attribute (the opset-17 form); the axes are read before converting and set again after it,
  because onnx releases before onnx/onnx#7910 (1.17, the last for Python 3.8, among them) turn an
  axes *initializer* into ``axes=[]``: every axis. IR version 8 goes with opset 17 (ONNX
  ``docs/Versioning.md``).

``edgeattn build MODEL.onnx --emit-onnx PATH --for-tensorrt X.Y`` writes exactly this graph without
TensorRT installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExportError, InputError
from ..graph import DOMAIN, inline_functions

# The last opset onnx-tensorrt 8.5-GA/8.6-GA import correctly (their reducers read ``axes`` only
# as an attribute, which opset 18 turned into an input).
OPSET_FOR_TENSORRT_8 = 17
IR_VERSION_FOR_OPSET_17 = 8
# Reductions whose ``axes`` attribute became an input in opset 18 (ReduceSum's did in 13).
_REDUCE_AXES_18 = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                             "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")


def parse_target(version: str) -> tuple[int, int]:
    """``"8.6.1.6"`` / ``"10.3"`` -> (major, minor); :class:`InputError` otherwise."""
    m = _VERSION.match(str(version))
    if not m:
        raise InputError(f"TensorRT version: received {version!r}, expected MAJOR.MINOR such as 8.5, 8.6, 10.3")
    return int(m.group(1)), int(m.group(2))


@dataclass
class Preparation:
    """The prepared model and what was done to it."""

    model: Any  # onnx.ModelProto
    target: tuple[int, int]
    inlined: dict[str, str] = field(default_factory=dict)  # block -> op type
    kept: list[str] = field(default_factory=list)  # edgeattn op types left to a plugin
    opset: tuple[int | None, int | None] = (None, None)  # (before, after)

    def describe(self) -> list[str]:
        lines = [f"prepared for TensorRT {self.target[0]}.{self.target[1]}"]
        if self.inlined:
            lines.append(f"inlined {len(self.inlined)} edgeattn block(s), nodes named <block>/<node>")
        if self.kept:
            lines.append(f"kept for a TensorRT plugin: {', '.join(sorted(self.kept))}")
        if self.opset[0] != self.opset[1]:
            lines.append(f"converted opset {self.opset[0]} -> {self.opset[1]} (TensorRT 8.x reductions read axes as an attribute)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": f"{self.target[0]}.{self.target[1]}",
            "inlined_blocks": len(self.inlined),
            "kept_for_plugins": sorted(self.kept),
            "opset": {"before": self.opset[0], "after": self.opset[1]},
        }


def _default_opset(model: Any) -> int | None:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def prepare_model(model: Any, target: tuple[int, int], *, plugins: Collection[str] = ()) -> Preparation:
    """Inline ``edgeattn::`` calls (except ``plugins``) and, for TensorRT 8.x, convert to opset 17."""
    import onnx

    kept = sorted({n.op_type for n in model.graph.node if n.domain == DOMAIN and n.op_type in plugins})
    proto, blocks = inline_functions(model, keep=plugins)
    before = _default_opset(proto)
    after = before
    if target < (9, 0) and before is not None and before > OPSET_FOR_TENSORRT_8:
        from onnx import version_converter

        axes = _constant_reduce_axes(proto)
        try:
            proto = version_converter.convert_version(proto, OPSET_FOR_TENSORRT_8)
        except Exception as exc:  # noqa: BLE001 - the converter raises bare RuntimeErrors
            raise ExportError(
                f"cannot convert the graph from opset {before} to {OPSET_FOR_TENSORRT_8} for TensorRT "
                f"{target[0]}.{target[1]} ({type(exc).__name__}: {exc})",
                hint="re-export with edgeattn export ... --opset 17",
            ) from None
        _restore_reduce_axes(proto, axes)
        _drop_opset18_reduce_attributes(proto)
        proto.ir_version = min(int(proto.ir_version), IR_VERSION_FOR_OPSET_17)
        after = _default_opset(proto)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the graph prepared for TensorRT {target[0]}.{target[1]} is not valid ONNX: {exc}") from None
    return Preparation(proto, target, inlined=blocks if blocks else {}, kept=kept, opset=(before, after))


def _constant_reduce_axes(model: Any) -> dict[str, list[int]]:
    """Node name -> axes of each opset-18 reduction whose ``axes`` input is a constant (an initializer
    or a Constant node's value). Unnamed or same-named reductions get a unique name here, so that each
    is found again after converting."""
    from onnx import numpy_helper

    constants = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            constants.update((node.output[0], a.t) for a in node.attribute if a.name == "value")
    found: dict[str, list[int]] = {}
    names = {node.name for node in model.graph.node}
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in _REDUCE_AXES_18 or len(node.input) < 2:
            continue
        if node.input[1] not in constants:
            continue  # computed axes: left to the converter
        if not node.name or node.name in found:  # keeps a block's name prefix (per-block timing)
            base, k = node.name or f"{node.op_type}_{index}", 0
            while f"{base}_{k}" in names:
                k += 1
            node.name = f"{base}_{k}"
            names.add(node.name)
        found[node.name] = [int(a) for a in numpy_helper.to_array(constants[node.input[1]]).reshape(-1)]
    return found


def _restore_reduce_axes(model: Any, axes_by_name: dict[str, list[int]]) -> None:
    """Set each converted reduction's ``axes`` attribute to the constant read before converting."""
    from onnx import helper

    for node in model.graph.node:
        axes = axes_by_name.get(node.name)
        if axes is None or node.op_type not in _REDUCE_AXES_18 or node.domain not in ("", "ai.onnx"):
            continue
        if len(node.input) > 1:
            raise ExportError(f"{node.op_type} {node.name!r} still takes its axes as an input after the "
                              f"conversion to opset {OPSET_FOR_TENSORRT_8}")
        for attr in [a for a in node.attribute if a.name == "axes"]:
            node.attribute.remove(attr)
        if axes:  # none: every axis, opset 17's meaning of a missing attribute
            node.attribute.append(helper.make_attribute("axes", axes))


def _drop_opset18_reduce_attributes(model: Any) -> None:
    """Remove ``noop_with_empty_axes`` that onnx's 18 -> 17 adapter leaves on reductions.

    Opset 17's ReduceMean/Max/Min/Prod have no such attribute (only ReduceSum, from 13, does), and
    with ``axes`` moved into the attribute it changes nothing unless the axes are empty.
    """
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type == "ReduceSum" or not node.op_type.startswith("Reduce"):
            continue
        attrs = {a.name: a for a in node.attribute}
        noop = attrs.get("noop_with_empty_axes")
        if noop is None:
            continue
        if noop.i and not list(getattr(attrs.get("axes"), "ints", [])):
            raise ExportError(f"{node.op_type} {node.name!r} reduces no axis (noop_with_empty_axes=1): no opset-17 form")
        node.attribute.remove(noop)


def prepare_file(
    onnx_path: str | os.PathLike[str], target: tuple[int, int], *, plugins: Collection[str] = ()
) -> Preparation:
    """:func:`prepare_model` on a file (external weights loaded, so the result is self-contained)."""
    import onnx

    try:
        model = onnx.load(os.fspath(onnx_path))
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise InputError(f"{onnx_path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    return prepare_model(model, target, plugins=plugins)


def plugin_ops(trt: Any) -> set[str]:
    """Names of the plugin creators registered with TensorRT (an ``edgeattn`` op of that name stays)."""
    try:
        registry = trt.get_plugin_registry()
    except Exception:  # noqa: BLE001 - no registry: nothing to keep
        return set()
    names: set[str] = set()
    for attr in ("all_creators", "plugin_creator_list"):  # 10.x+ / 8.x
        try:
            creators = getattr(registry, attr, None) or []
        except Exception:  # noqa: BLE001
            continue
        names.update(str(getattr(c, "name", "")) for c in creators)
    names.discard("")
    return names


def emit_prepared(
    onnx_path: str | os.PathLike[str], output: str | os.PathLike[str], target: tuple[int, int], *, plugins: Collection[str] = ()
) -> Preparation:
    """Write the graph as TensorRT ``target``'s parser would receive it (no TensorRT needed)."""
    from pathlib import Path

    from .._io import check_outputs, write_bytes_atomic

    src, dst = Path(os.fspath(onnx_path)), Path(os.fspath(output))
    check_outputs([src], {"--emit-onnx": dst})
    if dst.is_dir():
        raise InputError(f"--emit-onnx {dst} is a directory, expected a .onnx file path")
    prep = prepare_file(src, target, plugins=plugins)
    write_bytes_atomic(dst, prep.model.SerializeToString())
    return prep
