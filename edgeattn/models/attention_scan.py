"""Find the SE and CBAM blocks of any PyTorch model by module type.

The result is what the ONNX folding pass must account for: one ``SqueezeExcite``,
``ChannelAttention`` or ``SpatialAttention`` node per entry, named after the module path. CBAM
composites are listed as their channel and spatial halves, each with its own path.

Recognised: edgeattn's own layers, timm (``SEModule``, EfficientNet/MobileNetV3 ``SqueezeExcite``,
``CbamModule`` halves), torchvision ``ops.SqueezeExcitation``, and by class name the official codes'
``SELayer``/``ChannelGate``/``SpatialGate``. timm's ``LightCbamModule`` halves are listed as
``LightChannelAttention``/``LightSpatialAttention``: a different block, not folded (see
:data:`FOLDABLE_KINDS`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from ..graph import OP_TYPES

BlockKind = Literal[
    "SqueezeExcite", "ChannelAttention", "SpatialAttention", "LightChannelAttention", "LightSpatialAttention"
]
# The kinds the export folds into one edgeattn:: node each (the CBAM paper's channel and spatial
# attention, the SE paper's block).
FOLDABLE_KINDS: frozenset[str] = frozenset(OP_TYPES)

# Class names, not imports: timm and torchvision are optional and the official codes are copied
# into user projects under their original class names.
_SE_NAMES = frozenset({"SqueezeExcite", "SEModule", "SqueezeExcitation", "SELayer", "SEBlock", "SqueezeExcitation2d"})
_CHANNEL_NAMES = frozenset({"ChannelAttention", "ChannelAttn", "ChannelGate"})
_SPATIAL_NAMES = frozenset({"SpatialAttention", "SpatialAttn", "SpatialGate"})
# timm's "light" CBAM (timm/layers/cbam.py) is another block: it averages the two descriptors
# (0.5 * mean + 0.5 * max) before ONE MLP / a 1-channel conv instead of summing two MLP outputs /
# convolving the [mean, max] pair, so it computes something the CBAM functions do not.
_LIGHT_NAMES = {"LightChannelAttn": "LightChannelAttention", "LightSpatialAttn": "LightSpatialAttention"}
_CBAM_NAMES = frozenset({"CBAM", "CbamModule", "LightCbamModule"})


@dataclass(frozen=True)
class AttentionBlock:
    """One attention block: module path (``layer3.2.se.channel``), folded op type, class name."""

    path: str
    kind: BlockKind
    module_class: str
    cbam_parent: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _class_name(module: nn.Module) -> str:
    # TorchScript modules are all RecursiveScriptModule; they keep the Python class name.
    original = getattr(module, "original_name", None)
    if isinstance(module, torch.jit.ScriptModule) and isinstance(original, str):
        return original
    return type(module).__name__


def _kind_of(module: nn.Module) -> BlockKind | None:
    name = _class_name(module)
    if name in _LIGHT_NAMES:
        return _LIGHT_NAMES[name]  # type: ignore[return-value]
    if name in _SE_NAMES:
        return "SqueezeExcite"
    if name in _CHANNEL_NAMES:
        return "ChannelAttention"
    if name in _SPATIAL_NAMES:
        return "SpatialAttention"
    return None


def find_attention_blocks(model: nn.Module) -> list[AttentionBlock]:
    """All SE / CBAM-channel / CBAM-spatial blocks of ``model`` in module (= execution) order."""
    blocks: list[AttentionBlock] = []
    cbam_paths: list[str] = []
    for path, module in model.named_modules():
        if _class_name(module) in _CBAM_NAMES:
            cbam_paths.append(path)
            continue
        kind = _kind_of(module)
        if kind is None:
            continue
        # A block nested inside another block (an SE inside a ChannelGate, say) is part of it.
        if any(path.startswith(b.path + ".") for b in blocks):
            continue
        parent = next((p for p in reversed(cbam_paths) if path.startswith(p + ".")), None)
        blocks.append(AttentionBlock(path, kind, _class_name(module), parent))
    return blocks


def count_by_kind(blocks: list[AttentionBlock]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for block in blocks:
        counts[block.kind] = counts.get(block.kind, 0) + 1
    return counts


def attention_type(blocks: list[AttentionBlock]) -> str:
    """A one-word summary for tables: ``se``, ``cbam``, ``se+cbam`` or ``none``."""
    kinds = {b.kind for b in blocks}
    has_se = "SqueezeExcite" in kinds
    has_cbam = bool(kinds & {"ChannelAttention", "SpatialAttention"})
    if has_se and has_cbam:
        return "se+cbam"
    if not has_se and not has_cbam and kinds & {"LightChannelAttention", "LightSpatialAttention"}:
        return "light-cbam"
    return "se" if has_se else "cbam" if has_cbam else "none"
