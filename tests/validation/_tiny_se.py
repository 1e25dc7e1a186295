"""Helpers shared by the validate tests: a two-block SE net, exported and annotated."""

import ast
import json
from pathlib import Path

import torch
from torch import nn

from edgeattn.layers import SqueezeExcite


class TinySE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.se1 = SqueezeExcite(8, reduction=4)
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU())
        self.se2 = SqueezeExcite(16, reduction=4)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.se1(self.layer1(torch.relu(self.stem(x))))
        x = self.se2(self.layer2(x))
        return self.fc(x.mean((2, 3)))


def make_model(seed: int = 0) -> TinySE:
    torch.manual_seed(seed)
    return TinySE().eval()


def module_outputs(proto, paths):
    """The output tensor of the last node exported inside each module path."""
    found = {}
    for node in proto.graph.node:
        meta = {m.key: m.value for m in node.metadata_props}
        scopes = ast.literal_eval(meta.get("pkg.torch.onnx.name_scopes", "[]"))
        for path in paths:
            if path in scopes:
                found[path] = node.output[0]
    return found


def export_tiny(folder: Path, seed: int = 0) -> tuple[Path, TinySE]:
    import onnx

    model = make_model(seed)
    path = folder / "tiny.onnx"
    torch.onnx.export(
        model, (torch.randn(1, 3, 16, 16),), str(path), dynamo=True, input_names=["input"], output_names=["logits"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=32)}}, verbose=False,
    )
    proto = onnx.load(path)
    outs = module_outputs(proto, ["se1", "se2", "layer1", "layer2"])
    blocks = [{"name": p, "op_type": "SqueezeExcite", "input": "", "output": outs[p]} for p in ("se1", "se2")]
    probes = [{"module": p, "tensor": outs[p]} for p in ("layer1", "layer2")]
    meta = {
        "edgeattn.blocks": json.dumps(blocks),
        "edgeattn.probes": json.dumps(probes),
        "edgeattn.provenance": json.dumps({"source": "tiny", "preprocessing": {"input_size": [3, 16, 16]}}),
    }
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, path)
    return path, model
