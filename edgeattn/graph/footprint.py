"""Activation memory of an ONNX graph per sample, read from ONNX shape inference (no run).

A runtime keeps a node's inputs and output alive together and reuses the rest of its arena, so
the peak per sample is estimated as the two largest intermediate tensors. Tensors whose shape is
unknown, or symbolic beyond the batch dimension, are not counted: the figure is a lower bound
where the graph does not say more (ONNX Runtime's blocked CPU layout can pad channels further).
"""

from __future__ import annotations

import os
from typing import Any


def activation_bytes_per_sample(model: str | os.PathLike[str] | Any) -> int | None:
    """Bytes of the two largest intermediate tensors of one sample, or None when none has a known shape."""
    import onnx
    from onnx import helper

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(os.fspath(model), load_external_data=False)
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False)
    except Exception:  # noqa: BLE001 - shape inference gives up on some graphs: no estimate then
        return None
    sizes: list[int] = []
    for value in inferred.graph.value_info:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape") or not tensor.elem_type:
            continue
        dims = list(tensor.shape.dim)
        known = [d.dim_value for d in dims[1:] if d.HasField("dim_value")]
        if not dims or len(known) != len(dims) - 1:
            continue
        try:
            itemsize = helper.tensor_dtype_to_np_dtype(tensor.elem_type).itemsize
        except (KeyError, ValueError, TypeError):
            continue
        per_sample = itemsize  # the first dimension (the batch, symbolic or fixed) is left out
        for d in known:
            per_sample *= d
        sizes.append(per_sample)
    if not sizes:
        return None
    return sum(sorted(sizes, reverse=True)[:2])
