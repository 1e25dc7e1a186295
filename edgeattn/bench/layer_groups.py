"""Per-attention-block TensorRT layer times: group a runner's per-layer profile by module path.

The TensorRT runner reports mean milliseconds per engine layer (``profile_layers=True``,
:meth:`edgeattn.tensorrt.runner.TensorRTRunner.layer_times`); the engine sidecar lists the
attention blocks and the ``edgeattn::`` functions. :func:`block_times` joins the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_SUFFIX = re.compile(r"^(.*)_(\d+)$")


def _function_sites(
    layer_names: Sequence[str], functions: Mapping[str, Mapping[str, Sequence[str]]]
) -> dict[str, str]:
    """Layer-name part -> owner, for layers that TensorRT inlined from ONNX local functions.

    TensorRT's ONNX parser inlines a local function's body into the network and names each layer
    after the *body* node, made unique by a numeric suffix (``SqueezeExcite_0_GlobalAveragePool``,
    ``..._1``, ...); the caller's node name (the module path) is not kept (onnx-tensorrt
    ``registerLayer``/``processMetadata``). When the suffixes seen for every body node are exactly
    0..n-1 for the n call sites, occurrence k is call site k in graph order (the parser's import
    order); otherwise the time is attributed to the function as a whole (``edgeattn::OpType``).
    """
    parts = {part for name in layer_names for part in str(name).split(" + ")}
    owners: dict[str, str] = {}
    for op_type, info in functions.items():
        body = set(info.get("body_nodes") or ())
        sites = list(info.get("call_sites") or ())
        seen: dict[str, dict[int, str]] = {}
        for part in parts:
            base, index = part, 0
            if part not in body:
                m = _SUFFIX.match(part)
                if not m or m.group(1) not in body:
                    continue
                base, index = m.group(1), int(m.group(2))
            seen.setdefault(base, {})[index] = part
        consistent = bool(seen) and all(set(idx) <= set(range(len(sites))) for idx in seen.values())
        for idx in seen.values():
            for index, part in idx.items():
                owners[part] = sites[index] if consistent else f"edgeattn::{op_type}"
    return owners


def group_layer_times(
    layer_ms: Mapping[str, float],
    blocks: Sequence[Mapping[str, Any]],
    functions: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> dict[str, float]:
    """Sum per-layer times by attention block; unmatched layers go to ``"(other)"``.

    A TensorRT layer name carries the ONNX node names it was built from (fused layers join them
    with ``" + "``). A block matches when its module path appears as a whole name in it, written
    ``layer3.2.se``, ``/layer3/layer3.2/se`` (legacy exporter scopes) or ``layer3_2_se``; the most
    specific (longest) block wins, so ``layer3.2.se.channel`` beats ``layer3.2.se``. Layers inlined
    from ``edgeattn::`` local functions are attributed through ``functions`` (from the engine
    sidecar), see :func:`_function_sites`.
    """
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for block in blocks:
        name = str(block.get("name") or "")
        if not name:
            continue
        parts = name.split(".")
        scoped = "/" + "/".join(".".join(parts[: i + 1]) if parts[i].isdigit() else parts[i] for i in range(len(parts)))
        forms = {re.escape(name), re.escape(name.replace(".", "_")), re.escape(scoped)}
        patterns.append((name, re.compile(r"(?<![\w.])(?:" + "|".join(sorted(forms)) + r")(?![\w])")))
    patterns.sort(key=lambda item: len(item[0]), reverse=True)
    inlined = _function_sites(list(layer_ms), functions or {})
    totals: dict[str, float] = {}
    for layer, ms in layer_ms.items():
        owner = "(other)"
        for part in str(layer).split(" + "):
            if part in inlined:
                owner = inlined[part]
                break
        else:
            for name, pattern in patterns:
                if any(pattern.search(part) for part in str(layer).split(" + ")):
                    owner = name
                    break
        totals[owner] = totals.get(owner, 0.0) + float(ms)
    return totals



def block_times(runner: Any) -> dict[str, float]:
    """Mean milliseconds per attention block (module path) per run of a profiling TensorRT runner.

    ``runner`` was created with ``profile_layers=True``; layers no block claims are summed under
    ``"(other)"``.
    """
    side = runner.sidecar or {}
    return group_layer_times(runner.layer_times(), side.get("blocks") or [], side.get("functions") or {})
