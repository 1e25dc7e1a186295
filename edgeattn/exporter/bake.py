"""Preprocessing in the graph: the artifact takes uint8 pixels and normalises them itself.

Re-implementing a model's normalisation in each application is where accuracy is lost (a wrong
mean, BGR for RGB, [0, 255] for [0, 1]). With the recipe's scale ``k``, mean ``m`` and std ``s``
per channel, the network's float input is ``x = (p * k - m) / s = p * (k / s) + (-m / s)``, so
``Cast -> [Transpose NHWC -> NCHW] -> Mul -> Add`` in front of the original graph computes it
from the uint8 pixels ``p``. Resizing and cropping stay outside: they depend on each image's size.
The recipe recorded with the artifact says so (``Preprocessing.in_graph``), so the runner's
preprocessing then yields uint8 pixels and validate feeds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..artifact import LAYOUTS, Preprocessing
from ..errors import ExportError, InputError


def normalise_pixels(pixels: np.ndarray, recipe: Preprocessing) -> np.ndarray:
    """uint8 ``[N, C, H, W]`` pixels -> the float input the original graph takes (as the baked graph computes it)."""
    multiplier, offset = recipe.pixel_affine()
    return (pixels.astype(np.float32) * multiplier + offset).astype(np.float32)


def bake_preprocessing(model: Any, recipe: Preprocessing, layout: str = "nchw") -> Any:
    """A copy of ``model`` (an ``onnx.ModelProto`` with one float NCHW image input) that takes
    uint8 pixels in ``layout`` and applies ``recipe``'s scaling and normalisation itself."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if layout not in LAYOUTS:
        raise InputError(f"input layout: received {layout!r}, expected one of {list(LAYOUTS)}")
    baked = onnx.ModelProto()
    baked.CopyFrom(model)
    graph = baked.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ExportError(f"baking preprocessing needs one image input, the graph has {len(inputs)}")
    image = inputs[0]
    dims = image.type.tensor_type.shape.dim
    if image.type.tensor_type.elem_type != TensorProto.FLOAT or len(dims) != 4:
        raise ExportError(f"baking preprocessing needs a float [N, C, H, W] input, {image.name!r} is not one")
    if dims[1].HasField("dim_value") and dims[1].dim_value != recipe.input_size[0]:
        raise ExportError(f"the recipe has {recipe.input_size[0]} channels, the input {dims[1].dim_value}")
    if any(o.name == image.name for o in graph.output):
        raise ExportError(f"the input {image.name!r} is also a graph output; cannot put preprocessing in front of it")

    name = image.name
    used = {n for node in graph.node for n in (*node.input, *node.output)} | initializers
    internal = _unique(f"{name}_normalised", used)
    _rename_uses(graph, name, internal)

    multiplier, offset = recipe.pixel_affine()
    mul_name, add_name = _unique("edgeattn_pixel_multiplier", used), _unique("edgeattn_pixel_offset", used)
    graph.initializer.extend([numpy_helper.from_array(multiplier, mul_name), numpy_helper.from_array(offset, add_name)])
    as_float = _unique(f"{name}_float", used)
    nodes = [helper.make_node("Cast", [name], [as_float], to=TensorProto.FLOAT, name="edgeattn_pixels_to_float")]
    planar = as_float
    if layout == "nhwc":
        planar = _unique(f"{name}_nchw", used)
        nodes.append(helper.make_node("Transpose", [as_float], [planar], perm=[0, 3, 1, 2], name="edgeattn_pixels_nhwc_to_nchw"))
    scaled = _unique(f"{name}_scaled", used)
    nodes.append(helper.make_node("Mul", [planar, mul_name], [scaled], name="edgeattn_pixels_scale"))
    nodes.append(helper.make_node("Add", [scaled, add_name], [internal], name="edgeattn_pixels_normalise"))
    original = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + original)

    new_dims = [dims[0], dims[2], dims[3], dims[1]] if layout == "nhwc" else list(dims)
    image.type.tensor_type.elem_type = TensorProto.UINT8
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in new_dims]
    del image.type.tensor_type.shape.dim[:]
    for value in shape:
        dim = image.type.tensor_type.shape.dim.add()
        if isinstance(value, int):
            dim.dim_value = value
        elif value:
            dim.dim_param = value
    return baked


def _unique(base: str, used: set[str]) -> str:
    candidate, index = base, 1
    while candidate in used:
        candidate, index = f"{base}_{index}", index + 1
    used.add(candidate)
    return candidate


def _rename_uses(graph: Any, old: str, new: str) -> None:
    """Every use of ``old`` as a node input becomes ``new``, in subgraphs too (outer-scope reads)."""
    from onnx import AttributeProto

    for node in graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                _rename_uses(attribute.g, old, new)
            elif attribute.type == AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    _rename_uses(sub, old, new)
