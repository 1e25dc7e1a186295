"""Inlining folded blocks keeps names readable and the numbers unchanged."""

from __future__ import annotations

import numpy as np
import onnx
from _qgraphs import build_folded, run

from edgeattn.graph import attention_calls, block_of, inline_functions


def test_inline_prefixes_block_path_and_keeps_call_site_tensors(tmp_path):
    folded = build_folded()
    inlined, blocks = inline_functions(folded)
    assert not attention_calls(inlined) and len(inlined.functions) == 0
    names = [n.name for n in inlined.graph.node]
    assert "layer1.se/ReduceMean_1" in names and "layer1.cbam.spatial/Conv_4" in names
    outputs = {o for n in inlined.graph.node for o in n.output}
    assert {"a3", "a5"} <= outputs  # edgeattn.blocks refers to these
    assert block_of("layer1.cbam.spatial/Conv_4", ["layer1.se", "layer1.cbam.spatial"]) == "layer1.cbam.spatial"
    onnx.checker.check_model(inlined, full_check=True)
    onnx.save(folded, tmp_path / "f.onnx")
    onnx.save(inlined, tmp_path / "i.onnx")
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(run(tmp_path / "i.onnx", x), run(tmp_path / "f.onnx", x), rtol=1e-5, atol=1e-6)


def test_inline_only_selected_blocks():
    inlined, blocks = inline_functions(build_folded(), only=["layer1.se"])
    assert [n.name for n in attention_calls(inlined)] == ["layer1.cbam.spatial"]
    assert [f.name for f in inlined.functions] == ["SpatialAttention"]
