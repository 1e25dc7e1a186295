"""INT8 never quantizes an attention gate silently: the papers' own block code, left unfolded
(``--fold none``), still has every gate path found and kept in FP32; a sigmoid gate that is not an
SE/CBAM path is named in a warning."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/exporter: research_blocks
import research_blocks as rb  # noqa: E402

from edgeattn.exporter import export  # noqa: E402
from edgeattn.exporter.quantize.policy import find_gate_paths, unprotected_gates  # noqa: E402


@pytest.mark.parametrize(
    ("name", "opset", "kinds"),
    [
        ("se_layer_net", 18, ["SqueezeExcite"] * 2),
        ("se_layer_net", 17, ["SqueezeExcite"] * 2),
        ("cbam_net", 18, ["ChannelAttention", "SpatialAttention"] * 2),
    ],
)
def test_unfolded_research_blocks_have_their_gate_paths_found(tmp_path, name: str, opset: int, kinds: list[str]) -> None:
    out = tmp_path / "m.onnx"
    export(getattr(rb, name)(), out, input_shape=(1, 3, 32, 32), opset=opset, fold="none", max_batch=2)
    model = onnx.load(out)
    paths = find_gate_paths(model)
    assert [p.kind for p in paths] == kinds and not any(p.folded for p in paths)
    # the whole product is covered: the scaling Mul and what leads to it from the gate
    types = {n.name: n.op_type for n in model.graph.node}
    for path in paths:
        ops = [types[n] for n in path.nodes]
        assert ops[-1] == "Mul" and ("Sigmoid" in ops)
    assert unprotected_gates(model, paths) == []


class GatedConv(nn.Module):
    """``x * sigmoid(conv(x))``: a gate, but not SE/CBAM (no pooling of x)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.gate = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = x * torch.sigmoid(self.gate(x))
        x = x * torch.sigmoid(x)  # SiLU: not a gate
        return self.fc(x.mean((2, 3)))


def test_int8_warns_about_a_gate_it_does_not_protect(tmp_path) -> None:
    from edgeattn.exporter.quantize import quantize

    torch.manual_seed(0)
    out = tmp_path / "gated.onnx"
    export(GatedConv().eval(), out, input_shape=(1, 3, 16, 16), max_batch=2)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32))
    result = quantize(out, tmp_path / "gated_int8.onnx", "int8", calibration=calib)
    assert len(result.settings["unprotected_gates"]) == 1
    warning = next(w for w in result.warnings if "sigmoid-gated" in w)
    assert result.settings["unprotected_gates"][0] in warning and "--exclude-nodes" in warning
    # excluding it by name silences the warning
    excluded = quantize(
        out, tmp_path / "gated_int8b.onnx", "int8", calibration=calib,
        exclude_nodes=[f"^{result.settings['unprotected_gates'][0]}$"],
    )
    assert excluded.settings["unprotected_gates"] == []
    assert not any("sigmoid-gated" in w for w in excluded.warnings)


def test_int8_protects_every_senet_pytorch_block_unfolded(tmp_path) -> None:
    from edgeattn.exporter.quantize import quantize

    out = tmp_path / "se.onnx"
    export(rb.se_layer_net(), out, input_shape=(1, 3, 32, 32), fold="none", max_batch=2)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32))
    result = quantize(out, tmp_path / "se_int8.onnx", "int8", calibration=calib, attention="fp32")
    assert [p["kind"] for p in result.settings["gate_paths"]] == ["SqueezeExcite"] * 2
    assert result.settings["unprotected_gates"] == []
    sigmoids = [n for n in result.nodes if n.op_type == "Sigmoid"]
    assert len(sigmoids) == 2 and all(n.precision == "fp32" and "attention-aware" in n.reason for n in sigmoids)
    # the excitation FCs (bias-free Linear) stay in FP32 with the gate; only the classifier may be INT8
    se_fcs = [n for n in result.nodes if n.op_type in ("Gemm", "MatMul") and "attention-aware" in n.reason]
    assert len(se_fcs) == 4 and all(n.precision == "fp32" for n in se_fcs)
    # The default (attention="gate") keeps the same two gates' sigmoids FP32, the FCs go to INT8.
    default = quantize(out, tmp_path / "se_gate.onnx", "int8", calibration=calib)
    gate = {n.name: n for n in default.nodes}
    assert all(gate[n.name].precision == "fp32" and "attention policy 'gate'" in gate[n.name].reason for n in sigmoids)
    assert all(gate[n.name].precision == "int8" for n in se_fcs)
