"""ONNX graphs as other exporters write them, built with onnx.helper (no torch), for ``edgeattn fold``.

``mobilenetv3_like()``: a MobileNetV3-style net at opset 13 with four SE blocks spelled as
Paddle2ONNX / tf2onnx / older torch.onnx settings write them, and hard-swish written as
``x * HardSigmoid(x)``:

- ``se1``: ReduceMean (axes as an attribute, opset 13) -> 1x1 Conv -> Relu -> 1x1 Conv ->
  HardSigmoid(1/6, 0.5) -> Mul: the MobileNetV3 gate; folds.
- ``se2``: GlobalAveragePool -> convs -> HardSigmoid(0.2, 0.5) (PaddleClas' ``slope=0.2``, Keras'
  hard_sigmoid): folds as the MobileNetV3 gate of a rescaled FC2.
- ``se3``: GlobalAveragePool -> Flatten -> Gemm -> Relu -> Gemm -> relu6(z + 3) / 6 (Keras'
  hard_sigmoid through tf2onnx: Add, Clip, Div) -> Unsqueeze (axes as an input) -> Mul; folds.
- ``se4``: ReduceSum / (H*W) as the squeeze (a mean written out): not a pooling the rules know;
  refused with the reason.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

OPSET = 13
SIZE = 16
FOLDED = {"se1", "se2", "se3"}
REFUSED = {"se4/Mul": "squeeze is not"}


def _se_convs(p: str, x: str, pooled: str, c: int, gate_nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    return [
        h.make_node("Conv", [pooled, f"{p}.w1", f"{p}.b1"], [f"{p}/h"], name=f"{p}/fc1"),
        h.make_node("Relu", [f"{p}/h"], [f"{p}/hr"], name=f"{p}/relu"),
        h.make_node("Conv", [f"{p}/hr", f"{p}.w2", f"{p}.b2"], [f"{p}/z"], name=f"{p}/fc2"),
        *gate_nodes,
        h.make_node("Mul", [x, f"{p}/g"], [f"{p}/y"], name=f"{p}/Mul"),
    ]


def mobilenetv3_like(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}

    def w(name: str, *shape: int, scale: float = 0.4) -> str:
        weights[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
        return name

    c, cr = 16, 4
    w("stem.w", c, 3, 3, 3), w("stem.b", c)
    w("dw.w", c, 1, 3, 3), w("dw.b", c)
    w("pw.w", c, c, 1, 1), w("pw.b", c)
    w("head.w", 10, c), w("head.b", 10)
    for p in ("se1", "se2", "se4"):
        w(f"{p}.w1", cr, c, 1, 1), w(f"{p}.b1", cr), w(f"{p}.w2", c, cr, 1, 1), w(f"{p}.b2", c)
    w("se3.fc1", cr, c), w("se3.fc1b", cr), w("se3.fc2", c, cr), w("se3.fc2b", c)
    scalars = {"three": 3.0, "six": 6.0, "zero": 0.0, "hw": float(SIZE * SIZE)}
    for name, v in scalars.items():
        weights[name] = np.array(v, np.float32)
    weights["axes23"] = np.array([2, 3], np.int64)

    nodes = [
        h.make_node("Conv", ["x", "stem.w", "stem.b"], ["s"], pads=[1, 1, 1, 1], name="stem/conv"),
        # hard-swish as x * HardSigmoid(x) (HardSwish is opset 14): a SiLU-like product, no attention
        h.make_node("HardSigmoid", ["s"], ["s_hs"], alpha=1 / 6, beta=0.5, name="stem/hsig"),
        h.make_node("Mul", ["s", "s_hs"], ["a0"], name="stem/hswish"),
        # se1: ReduceMean with axes as an attribute (opset 13), MobileNetV3 gate
        h.make_node("ReduceMean", ["a0"], ["se1/p"], axes=[2, 3], keepdims=1, name="se1/pool"),
        *_se_convs("se1", "a0", "se1/p", c, [
            h.make_node("HardSigmoid", ["se1/z"], ["se1/g"], alpha=1 / 6, beta=0.5, name="se1/gate"),
        ]),
        h.make_node("Conv", ["se1/y", "dw.w", "dw.b"], ["d"], pads=[1, 1, 1, 1], group=c, name="dw/conv"),
        h.make_node("Relu", ["d"], ["a1"], name="dw/relu"),
        # se2: PaddleClas' hardsigmoid(slope=0.2, offset=0.5)
        h.make_node("GlobalAveragePool", ["a1"], ["se2/p"], name="se2/pool"),
        *_se_convs("se2", "a1", "se2/p", c, [
            h.make_node("HardSigmoid", ["se2/z"], ["se2/g"], alpha=0.2, beta=0.5, name="se2/gate"),
        ]),
        h.make_node("Conv", ["se2/y", "pw.w", "pw.b"], ["e"], name="pw/conv"),
        h.make_node("Relu", ["e"], ["a2"], name="pw/relu"),
        # se3: Keras/tf2onnx style: Flatten + Gemm FCs, relu6(z + 3) / 6 gate, Unsqueeze back
        h.make_node("GlobalAveragePool", ["a2"], ["se3/p"], name="se3/pool"),
        h.make_node("Flatten", ["se3/p"], ["se3/pf"], axis=1, name="se3/flatten"),
        h.make_node("Gemm", ["se3/pf", "se3.fc1", "se3.fc1b"], ["se3/h"], transB=1, name="se3/fc1"),
        h.make_node("Relu", ["se3/h"], ["se3/hr"], name="se3/relu"),
        h.make_node("Gemm", ["se3/hr", "se3.fc2", "se3.fc2b"], ["se3/z"], transB=1, name="se3/fc2"),
        h.make_node("Add", ["se3/z", "three"], ["se3/z3"], name="se3/add3"),
        h.make_node("Clip", ["se3/z3", "zero", "six"], ["se3/r6"], name="se3/relu6"),
        h.make_node("Div", ["se3/r6", "six"], ["se3/g2"], name="se3/div6"),
        h.make_node("Unsqueeze", ["se3/g2", "axes23"], ["se3/g"], name="se3/unsqueeze"),
        h.make_node("Mul", ["a2", "se3/g"], ["a3"], name="se3/Mul"),
        # se4: the mean written as ReduceSum / (H * W)
        h.make_node("ReduceSum", ["a3", "axes23"], ["se4/sum"], keepdims=1, name="se4/sum"),
        h.make_node("Div", ["se4/sum", "hw"], ["se4/p"], name="se4/mean"),
        *_se_convs("se4", "a3", "se4/p", c, [
            h.make_node("Sigmoid", ["se4/z"], ["se4/g"], name="se4/gate"),
        ]),
        h.make_node("GlobalAveragePool", ["se4/y"], ["gp"], name="head/pool"),
        h.make_node("Flatten", ["gp"], ["gf"], axis=1, name="head/flatten"),
        h.make_node("Gemm", ["gf", "head.w", "head.b"], ["logits"], transB=1, name="head/fc"),
    ]
    graph = h.make_graph(
        nodes,
        "mobilenetv3_like",
        [h.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [h.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [nh.from_array(v, k) for k, v in weights.items()],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="tf2onnx-like")
    model.ir_version = 7  # what tf2onnx / Paddle2ONNX write for opset 13
    onnx.checker.check_model(model, full_check=True)
    return model
