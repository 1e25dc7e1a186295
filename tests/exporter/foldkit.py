"""Helpers for the folding tests: tiny models in ONNX text syntax, fold, compare on ORT."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser
import onnx_ir as ir
import onnxruntime as ort

from edgeattn.exporter.fold import BodyOptions, FoldReport, fold_attention
from edgeattn.exporter.fold.functions import DEFAULT_OPTIONS


def make_model(text: str, weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Parse ``text`` (onnx.parser syntax) and add ``weights`` as initializers."""
    model = onnx.parser.parse_model(text)
    for name, array in weights.items():
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(array), name))
    onnx.checker.check_model(model)
    return model


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def fold(
    model: onnx.ModelProto, mode: str = "functions", options: BodyOptions = DEFAULT_OPTIONS
) -> tuple[onnx.ModelProto, FoldReport]:
    ir_model = ir.from_proto(model)
    report = fold_attention(ir_model, mode, options=options)
    return ir.to_proto(ir_model), report


def fold_and_compare(
    model: onnx.ModelProto,
    x: np.ndarray,
    mode: str = "functions",
    input_name: str = "x",
    options: BodyOptions = DEFAULT_OPTIONS,
) -> tuple[onnx.ModelProto, FoldReport]:
    """Fold; check the result with the full checker and that ORT gives the same output."""
    before = run(model, {input_name: x})
    folded, report = fold(model, mode, options)
    onnx.checker.check_model(folded, full_check=True)
    after = run(folded, {input_name: x})
    for b, a in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return folded, report


def op_types(model: onnx.ModelProto) -> list[str]:
    return [f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node]


def rng_weights(seed: int, **shapes: tuple[int, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v).astype(np.float32) * 0.5 for k, v in shapes.items()}
