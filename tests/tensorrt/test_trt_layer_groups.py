"""Grouping TensorRT per-layer times by attention block (module path) names."""

from __future__ import annotations

import pytest

from edgeattn.runtime.tensorrt_runner import group_layer_times

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
