"""Issue 13 item 6: data that was accepted silently and wrongly now converts correctly or is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgeattn.data import load_samples
from edgeattn.data.preprocessing import Preprocessing
from edgeattn.errors import CheckpointError, InputError


def test_16_bit_png_is_normalised_over_its_own_range(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "deep.png"
    Image.fromarray(np.full((16, 16), 2300, dtype=np.uint16)).save(path)  # 2300 / 65535 = 0.035
    with Image.open(path) as image:
        assert image.mode.startswith("I")
    pre = Preprocessing(input_size=(1, 16, 16), mean=(0.0,), std=(1.0,), crop_pct=1.0)
    array = pre.load_image(path)
    assert array.shape == (1, 16, 16)
    assert array.mean() == pytest.approx(2300 / 65535, rel=1e-3)
    rgb = Preprocessing(input_size=(3, 16, 16), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_pct=1.0).load_image(path)
    assert rgb.shape == (3, 16, 16) and rgb.mean() == pytest.approx(2300 / 65535, rel=1e-3)


def test_complex_inputs_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.npy"
    np.save(path, np.ones((2, 3, 8, 8), np.complex64) * (1 + 2j))
    with pytest.raises(InputError, match="complex"):
        load_samples(path, (3, 8, 8))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_non_float_checkpoint_weights_are_refused(dtype: torch.dtype) -> None:
    from edgeattn.models.checkpoint import load_state_dict_into

    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    state = {k: v.to(dtype) for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"non-floating-point weights .*0\.weight"):
        load_state_dict_into(model, state)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_inputs_are_refused_by_validate(tiny_model: Path, tmp_path: Path, bad: float) -> None:
    path = tmp_path / "x.npy"
    x = np.zeros((2, 3, 8, 8), np.float32)
    x[1, 0, 0, 0] = bad
    np.save(path, x)
    with pytest.raises(InputError, match="1 NaN or Inf value"):
        load_samples(path, (3, 8, 8))
    from edgeattn.validation.core import _resolve_samples

    with pytest.raises(InputError, match="NaN or Inf"):
        _resolve_samples(x, (3, 8, 8), None, 0, tiny_model, None, None)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--atol", "nan", "expected a finite non-negative tolerance"),
        ("--rtol", "inf", "expected a finite non-negative tolerance"),
        ("--atol", "nosuchoutput=1", "received output name 'nosuchoutput', expected one of ['logits']"),
    ],
)
def test_bad_tolerances_are_refused(tiny_model: Path, option: str, value: str, message: str) -> None:
    from typer.testing import CliRunner

    from edgeattn.cli import app

    result = CliRunner().invoke(app, ["validate", str(tiny_model), "--model", "se_resnet_tiny", "-n", "1", option, value])
    # A value that does not parse is a usage error (2); a name the artifact lacks is known only later (1).
    assert result.exit_code == (1 if "=" in value else 2)
    assert message in result.output and "Traceback" not in result.output
