"""Attention-aware policy: which nodes are gate paths, which the user excluded."""

from __future__ import annotations

import pytest
from _qgraphs import build_folded, build_plain

from edgeattn.errors import InputError
from edgeattn.exporter.quantize.policy import PrecisionPolicy, find_gate_paths, high_precision_nodes


def test_plain_graph_gate_paths_are_found_with_their_kind():
    paths = find_gate_paths(build_plain())
    by_kind = {p.kind: p for p in paths}
    assert set(by_kind) == {"SqueezeExcite", "SpatialAttention"}
    se = by_kind["SqueezeExcite"]
    # pool -> fc1 -> relu -> fc2 -> sigmoid -> scale multiply: the whole gate path, nothing else
    assert [n.split("/")[1].rsplit("_", 1)[0] for n in se.nodes] == ["ReduceMean", "Conv", "Relu", "Conv", "Sigmoid", "Mul"]
    spatial = by_kind["SpatialAttention"]
    assert sorted(n.split("/")[1].rsplit("_", 1)[0] for n in spatial.nodes) == sorted(
        ["ReduceMean", "ReduceMax", "Concat", "Conv", "Sigmoid", "Mul"]
    )
    assert not any(p.folded for p in paths)


def test_silu_is_not_taken_for_a_gate():
    names = {n for p in find_gate_paths(build_plain()) for n in p.nodes}
    assert "stem.silu.mul" not in names and "stem.silu.sigmoid" not in names
    assert "stem.conv" not in names and "layer1.conv" not in names


def test_folded_calls_are_gate_paths():
    paths = find_gate_paths(build_folded())
    assert [(p.kind, p.nodes, p.folded) for p in paths] == [
        ("SqueezeExcite", ("layer1.se",), True),
        ("SpatialAttention", ("layer1.cbam.spatial",), True),
    ]


def test_default_policy_keeps_gates_and_quantize_attention_lifts_them():
    model = build_plain()
    kept = high_precision_nodes(model, PrecisionPolicy())
    assert len(kept) == 12 and all("attention-aware policy" in r for r in kept.values())
    assert high_precision_nodes(model, PrecisionPolicy(quantize_attention=True)) == {}


def test_user_exclusions_apply_with_or_without_attention():
    policy = PrecisionPolicy(quantize_attention=True, exclude_nodes=[r"^fc$"], exclude_op_types=["GlobalAveragePool"])
    kept = high_precision_nodes(build_plain(), policy)
    assert set(kept) == {"fc", "pool"}
    assert "--exclude-nodes" in kept["fc"] and "--exclude-op-types" in kept["pool"]


def test_bad_regex_is_an_input_error():
    with pytest.raises(InputError, match="exclude-nodes"):
        PrecisionPolicy(exclude_nodes=["layer1.(se"])
