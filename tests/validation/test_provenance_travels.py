"""Provenance that travels (issue 10, item 4): an artifact moved together with its checkpoint and
its model file validates from any folder, and --model names the architecture without dropping
the recorded checkpoint."""

from __future__ import annotations

import json
import os
import runpy
import shutil
from pathlib import Path

import pytest
import torch

import edgeattn
from edgeattn.models import create_model

FACTORY = '''
import torch
from torch import nn

def build(num_classes=10):
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_classes)).eval()
'''


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """Exported with relative paths from a work folder, then the folder moved elsewhere whole."""
    root = tmp_path_factory.mktemp("travel")
    work = root / "work"
    (work / "runs").mkdir(parents=True)
    torch.manual_seed(1)  # weights unlike a fresh model's, so a missing checkpoint fails parity
    trained = create_model("se_resnet_tiny", num_classes=10)
    for p in trained.parameters():
        p.data.normal_(0, 0.2)
    torch.save(trained.state_dict(), work / "runs" / "best.pth")
    (work / "net.py").write_text(FACTORY)
    torch.save(runpy.run_path(str(work / "net.py"))["build"]().state_dict(), work / "runs" / "net.pth")
    cwd = Path.cwd()
    try:
        os.chdir(work)  # relative spellings, as a user types them
        edgeattn.export("se_resnet_tiny", Path("deploy") / "tiny.onnx", checkpoint=Path("runs") / "best.pth",
                        input_shape=(1, 3, 32, 32))
        edgeattn.export("net.py:build", Path("deploy") / "net.onnx", checkpoint=Path("runs") / "net.pth",
                        input_shape=(1, 3, 8, 8), opset=17)
    finally:
        os.chdir(cwd)
    shutil.move(str(work), str(root / "elsewhere"))
    return root / "elsewhere"


def test_the_checkpoint_is_found_beside_the_moved_artifact(moved, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # neither the old nor the new folder
    record = json.loads((moved / "deploy" / "tiny.onnx.json").read_text())["provenance"]["checkpoint"]
    assert record["relative"] == "../runs/best.pth" and not Path(record["path"]).exists()
    report = edgeattn.validate(moved / "deploy" / "tiny.onnx", num_samples=2)
    assert report.passed and report.reference["checkpoint"] == str(moved / "runs" / "best.pth")


def test_model_keeps_the_recorded_checkpoint_unless_declined(moved, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    artifact = moved / "deploy" / "tiny.onnx"
    assert edgeattn.validate(artifact, model="se_resnet_tiny", model_options={"num_classes": 10}, num_samples=2).passed
    with pytest.warns(Warning, match="recorded checkpoint was not loaded"):
        declined = edgeattn.validate(artifact, model="se_resnet_tiny", model_options={"num_classes": 10},
                                     num_samples=2, use_recorded_checkpoint=False)
    assert not declined.passed


def test_a_trusted_model_file_is_found_beside_the_moved_artifact(moved, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    report = edgeattn.validate(moved / "deploy" / "net.onnx", trust_provenance=True, num_samples=2)
    assert report.passed and report.reference["model"] == f"{moved / 'net.py'}:build"
    # The same file changed: refused, even though it sits where the record says.
    (moved / "net.py").write_text(FACTORY + "\n# edited\n")
    with pytest.raises(edgeattn.errors.UntrustedSourceError, match="has changed"):
        edgeattn.validate(moved / "deploy" / "net.onnx", trust_provenance=True, num_samples=2)
