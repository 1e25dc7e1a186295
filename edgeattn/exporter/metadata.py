"""Stage probes for the artifact record: the stage outputs (``layer1`` .. ``layer4``, ``stages.N``,
``blocks.N``, ``features.N``) found in the exported graph, recorded as ``[{"module", "tensor"}]``.

The record itself (key names, provenance, how it is written into ``metadata_props`` and the
``.onnx.json`` sidecar) is :mod:`edgeattn.artifact`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # export is the only caller, and has onnx-ir
    import onnx_ir as ir

# Module paths that are stage outputs in our zoo, timm and torchvision.
_STAGE = re.compile(r"^(layer\d+|stages?\.\d+|blocks\.\d+|features\.\d+)$")


def find_probes(model: ir.Model) -> list[dict[str, str]]:
    """Stage outputs: the last tensor computed inside each stage module that leaves the stage."""
    from .fold._match import _scope_of

    last: dict[str, ir.Node] = {}
    for node in model.graph:
        for path in _scope_of(node) or []:
            if _STAGE.match(path):
                last[path] = node
    probes = []
    for path, node in last.items():
        if len(node.outputs) == 1 and node.outputs[0].name:
            probes.append({"module": path, "tensor": node.outputs[0].name})
    return probes
