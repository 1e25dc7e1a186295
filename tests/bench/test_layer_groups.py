"""Grouping TensorRT per-layer times by attention block (module path) names."""

from __future__ import annotations

import pytest

from edgeattn.bench.layer_groups import group_layer_times

BLOCKS = [{"name": "layer3.2.se"}, {"name": "layer3.2.se.channel"}, {"name": "layer1.1.se"}]


def test_fused_and_scoped_layer_names_are_attributed():
    times = {
        "/layer3/layer3.2/se/fc1/Conv + /layer3/layer3.2/se/act/Relu": 1.0,  # legacy exporter scopes, fused
        "layer3.2.se.channel/ReduceMean": 2.0,  # most specific block wins
        "layer1_1_se.fc": 5.0,  # underscore form
        "conv1 + relu": 4.0,
    }
    groups = group_layer_times(times, BLOCKS)
    assert groups == {"layer3.2.se": 1.0, "layer3.2.se.channel": 2.0, "layer1.1.se": 5.0, "(other)": 4.0}


@pytest.mark.parametrize("name", ["layer1.10.se/Mul", "xlayer1.1.se", "layer1.1.sex", "layer1.1"])
def test_no_false_matches(name):
    assert group_layer_times({name: 1.0}, BLOCKS) == {"(other)": 1.0}


def test_total_preserved_and_no_blocks():
    times = {"a": 1.5, "layer1.1.se.fc": 2.5}
    assert sum(group_layer_times(times, BLOCKS).values()) == pytest.approx(4.0)
    assert group_layer_times(times, []) == {"(other)": 4.0}


FUNCTIONS = {
    "SqueezeExcite": {
        "body_nodes": ["SqueezeExcite_0_GlobalAveragePool", "SqueezeExcite_1_Conv", "SqueezeExcite_4_Mul"],
        "call_sites": ["layer1.0.se", "layer3.0.se"],
    }
}


def test_inlined_function_layers_attributed_to_call_sites_in_order():
    times = {
        "SqueezeExcite_0_GlobalAveragePool": 1.0,
        "SqueezeExcite_1_Conv + node_relu_4": 2.0,
        "SqueezeExcite_0_GlobalAveragePool_1": 4.0,
        "SqueezeExcite_4_Mul_1": 8.0,
        "node_Conv_376": 16.0,
    }
    groups = group_layer_times(times, [{"name": "layer1.0.se"}, {"name": "layer3.0.se"}], FUNCTIONS)
    assert groups == {"layer1.0.se": 3.0, "layer3.0.se": 12.0, "(other)": 16.0}


def test_inconsistent_suffixes_fall_back_to_the_function_as_a_whole():
    # a suffix beyond the number of call sites: the numbering is not per name, so no per-site claim
    times = {"SqueezeExcite_0_GlobalAveragePool_7": 1.0, "SqueezeExcite_1_Conv": 2.0}
    groups = group_layer_times(times, [], FUNCTIONS)
    assert groups == {"edgeattn::SqueezeExcite": 3.0}
