"""Optimization profile computation and shape-spec parsing (plain unit tests)."""

from __future__ import annotations

import pytest

from edgeattn.errors import InputError
from edgeattn.tensorrt.onnx_info import OnnxInput
from edgeattn.tensorrt.profiles import Profile, compute_profiles, parse_shape_spec

DYN = OnnxInput("input", "float32", ("batch", 3, 224, 224))
FIXED = OnnxInput("input", "float32", (1, 3, 224, 224))


def test_dynamic_batch_defaults_to_1_1_32():
    (p,) = compute_profiles([DYN])
    assert (p.min, p.opt, p.max) == ((1, 3, 224, 224), (1, 3, 224, 224), (32, 3, 224, 224))


def test_batch_options_and_opt_default_to_min():
    (p,) = compute_profiles([DYN], min_batch=2, max_batch=8)
    assert (p.min[0], p.opt[0], p.max[0]) == (2, 2, 8)
    (p,) = compute_profiles([DYN], opt_batch=4, max_batch=16)
    assert (p.min[0], p.opt[0], p.max[0]) == (1, 4, 16)


@pytest.mark.parametrize("kw", [dict(min_batch=4, max_batch=2), dict(opt_batch=9, max_batch=8), dict(min_batch=0)])
def test_bad_batch_range(kw):
    with pytest.raises(InputError, match="1 <= min <= opt <= max"):
        compute_profiles([DYN], **kw)


def test_fixed_batch_onnx_keeps_its_batch_and_rejects_a_range():
    (p,) = compute_profiles([FIXED])
    assert p.min == p.opt == p.max == (1, 3, 224, 224)
    with pytest.raises(InputError, match="fixed batch of 1 in the ONNX, but batch max 8 was requested") as info:
        compute_profiles([FIXED], max_batch=8)
    assert "dynamic batch" in info.value.hint
    (p,) = compute_profiles([FIXED], max_batch=1)  # consistent with the fixed batch: fine
    assert p.max == (1, 3, 224, 224)


def test_other_dynamic_axis_needs_explicit_shapes():
    inp = OnnxInput("input", "float32", ("batch", 3, "height", "width"))
    with pytest.raises(InputError, match="dynamic axis 2"):
        compute_profiles([inp])
    (p,) = compute_profiles(
        [inp], min_shapes={"input": (1, 3, 128, 128)}, opt_shapes={"input": (1, 3, 224, 224)},
        max_shapes={"input": (4, 3, 320, 320)},
    )
    assert p.max == (4, 3, 320, 320)
    assert p.contains((2, 3, 200, 300)) and not p.contains((2, 3, 400, 300))


def test_explicit_shapes_checked_against_onnx():
    with pytest.raises(InputError, match="axis 1 is fixed to 3"):
        compute_profiles([DYN], min_shapes={"input": (1, 4, 224, 224)})
    with pytest.raises(InputError, match="rank 3"):
        compute_profiles([DYN], min_shapes={"input": (1, 3, 224)})
    with pytest.raises(InputError, match="unknown input"):
        compute_profiles([DYN], min_shapes={"image": (1, 3, 224, 224)})
    with pytest.raises(InputError, match="min <= opt <= max"):
        compute_profiles([DYN], min_shapes={"input": (4, 3, 224, 224)}, max_shapes={"input": (2, 3, 224, 224)})


def test_parse_shape_spec():
    assert parse_shape_spec("input:1x3x224x224, mask:1x10") == {"input": (1, 3, 224, 224), "mask": (1, 10)}
    assert parse_shape_spec("ns:input:1x3") == {"ns:input": (1, 3)}
    assert parse_shape_spec(None) == {}
    for bad in ("input", "input:1xax3", "input:0x3"):
        with pytest.raises(InputError):
            parse_shape_spec(bad)


def test_profile_roundtrip_and_describe():
    p = Profile("input", (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))
    assert Profile.from_dict(p.to_dict()) == p
    assert p.describe() == "input: min 1x3x8x8, opt 2x3x8x8, max 4x3x8x8"
