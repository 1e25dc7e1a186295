"""DLA builds use a static profile: a dynamic batch would fall back to the GPU layer by layer (F12)."""

from __future__ import annotations

import pytest

from edgeattn.errors import InputError
from edgeattn.tensorrt import build, read_sidecar


@pytest.mark.parametrize("gen", ["8.5", "8.6", "10.3"])
def test_dla_build_fixes_the_default_dynamic_batch_and_says_so(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13", num_dla_cores=2)
    engine = tmp_path / "m.engine"
    result = build(tiny_onnx, engine, dla_core=0)
    shapes = [c[1][1:] for c in world.calls if c[0] == "IOptimizationProfile.set_shape"]
    assert shapes == [((1, 3, 8, 8),) * 3]
    assert any("DLA needs a static input shape" in w for w in result.warnings)
    assert read_sidecar(engine)["profiles"] == [{"name": "input", "min": [1, 3, 8, 8], "opt": [1, 3, 8, 8], "max": [1, 3, 8, 8]}]


def test_dla_build_with_a_static_batch_range(make_world, tiny_onnx, tmp_path):
    world = make_world("8.5", "13", num_dla_cores=1)
    result = build(tiny_onnx, tmp_path / "m.engine", dla_core=0, min_batch=4, max_batch=4)
    assert [c[1][1:] for c in world.calls if c[0] == "IOptimizationProfile.set_shape"] == [((4, 3, 8, 8),) * 3]
    assert not any("static" in w for w in result.warnings)


def test_dla_with_a_requested_dynamic_range_is_refused(make_world, tiny_onnx, tmp_path):
    make_world("8.5", "13", num_dla_cores=1)
    with pytest.raises(InputError, match=r"DLA needs a static input shape \(min = opt = max\), received input: min 1x3x8x8"):
        build(tiny_onnx, tmp_path / "m.engine", dla_core=0, max_batch=8)
