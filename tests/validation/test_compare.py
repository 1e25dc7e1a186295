import math

import numpy as np
import pytest

from edgeattn.errors import InputError
from edgeattn.validation import DEFAULT_TOLERANCES, Tolerance, compare_output, tolerance_for


def test_identical_passes_with_zero_error():
    ref = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    cmp = compare_output("logits", ref, ref.copy(), DEFAULT_TOLERANCES["fp32"])
    assert cmp and cmp.max_abs == 0 and cmp.top1_agreement == 1.0 and cmp.top5_agreement == 1.0
    assert cmp.cosine == pytest.approx(1.0)


def test_statistics_and_required_tolerances_by_hand():
    ref = np.array([[1.0, -2.0, 4.0, 0.5, 3.0]], np.float32)
    out = ref + np.array([[0.1, 0.0, -1.2, 0.0, 0.0]], np.float32)
    tol = Tolerance(atol=0.05, rtol=0.05, min_cosine=0.0)
    cmp = compare_output("y", ref, out, tol)
    assert cmp.max_abs == pytest.approx(1.2, rel=1e-6)
    assert cmp.max_rel == pytest.approx(0.3, rel=1e-5)  # 0.1/1.0 and 1.2/4.0
    assert cmp.mean_abs == pytest.approx(0.26, rel=1e-5)
    assert cmp.median_abs == 0.0
    # 1.2 - 0.05*4 = 1.0 is the atol that would pass with rtol 0.05.
    assert cmp.required_atol == pytest.approx(1.0, rel=1e-5)
    assert cmp.mismatched == 2 and not cmp
    # top-1 moves from index 2 (4.0) to 4 (3.0 vs 2.8): disagreement, but still inside top-5.
    assert cmp.top1_agreement == 0.0 and cmp.top5_agreement == 1.0
    # The tolerance reported as sufficient really is.
    assert compare_output("y", ref, out, Tolerance(cmp.required_atol + 1e-6, 0.05, 0.0))


def test_upcasts_before_subtracting():
    ref = np.array([[1e8, 1.0]], np.float32)
    out = np.array([[1e8 + 8, 1.0]], np.float32)  # representable step in float32
    cmp = compare_output("y", ref, out, Tolerance(0, 0, 0))
    assert cmp.max_abs == 8.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_always_fail(bad):
    ref = np.ones((2, 3), np.float32)
    out = ref.copy()
    out[1, 2] = bad
    cmp = compare_output("y", ref, out, Tolerance(1e9, 1e9, -1.0))
    assert not cmp and cmp.nonfinite == 1 and any("NaN/Inf" in r for r in cmp.reasons)


def test_cosine_threshold_fails_a_scaled_output():
    ref = np.random.default_rng(1).normal(size=(3, 8))
    out = -ref
    cmp = compare_output("y", ref, out, Tolerance(1e9, 0, 0.5))
    assert not cmp and cmp.cosine == pytest.approx(-1.0)


def test_shape_mismatch_is_a_failure_and_same_size_views_compare():
    assert not compare_output("y", np.ones((2, 3)), np.ones((2, 4)), DEFAULT_TOLERANCES["fp32"])
    assert compare_output("y", np.ones((2, 3)), np.ones((2, 3, 1, 1)), DEFAULT_TOLERANCES["fp32"])


def test_tolerance_resolution_per_output_and_precision():
    assert tolerance_for("a", "fp16").atol == DEFAULT_TOLERANCES["fp16"].atol
    assert tolerance_for("a", "fp32", atol=0.5).atol == 0.5
    tol = tolerance_for("b", "int8", atol={"a": 0.1, "*": 0.2}, rtol={"b": 0.3})
    assert tol.atol == 0.2 and tol.rtol == 0.3
    assert DEFAULT_TOLERANCES["fp32"].atol < DEFAULT_TOLERANCES["fp16"].atol < DEFAULT_TOLERANCES["int8"].atol
    with pytest.raises(InputError):
        tolerance_for("a", "bf8")


def test_to_dict_keeps_json_safe_floats():
    ref = np.ones((1, 3))
    out = ref.copy()
    out[0, 0] = np.nan
    data = compare_output("y", ref, out, DEFAULT_TOLERANCES["fp32"]).to_dict()
    assert isinstance(data["max_abs"], (str, float)) and data["passed"] is False
    assert not (isinstance(data["cosine"], float) and math.isnan(data["cosine"]))
