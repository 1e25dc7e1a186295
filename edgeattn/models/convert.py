"""Key converters for SE/CBAM checkpoints saved by other implementations.

Each converter recognises a layout by its key names, renames keys to edgeattn's, reshapes
``nn.Linear`` weights [out, in] to 1x1-conv weights [out, in, 1, 1] (or back) as the target
model needs, and fills absent FC biases with zeros (a layer without bias equals one with a
zero bias). See /docs/models.md and the shared checkpoint-formats table.

- official CBAM code (Jongchan/attention-module): ``layerL.B.cbam.ChannelGate.mlp.{1,3}`` and
  ``cbam.SpatialGate.spatial.{conv,bn}``; its spatial pooling is concatenated as [max, mean], so
  the 7x7 conv's two input channels are swapped when the target pools [mean, max].
- senet.pytorch (moskomule): ``layerL.B.se.fc.{0,2}`` Linear, bias-free since Dec 2018.
- timm CBAM (``attn_layer='cbam'``): ``se.spatial.conv.conv`` / ``se.spatial.conv.bn``,
  bias-free channel MLP.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]


def _official_cbam(key: str) -> tuple[str, bool] | None:
    """(new key, swap spatial input channels?) for the official CBAM code's keys."""
    rules = (
        (r"\.cbam\.ChannelGate\.mlp\.1\.", ".se.channel.fc1.", False),
        (r"\.cbam\.ChannelGate\.mlp\.3\.", ".se.channel.fc2.", False),
        (r"\.cbam\.SpatialGate\.spatial\.conv\.weight$", ".se.spatial.conv.weight", True),
        (r"\.cbam\.SpatialGate\.spatial\.conv\.bias$", ".se.spatial.conv.bias", False),
        (r"\.cbam\.SpatialGate\.spatial\.bn\.", ".se.spatial.bn.", False),
    )
    for pattern, repl, swap in rules:
        if re.search(pattern, key):
            return re.sub(pattern, repl, key), swap
    return None


def _senet_pytorch(key: str) -> tuple[str, bool] | None:
    for pattern, repl in ((r"\.se\.fc\.0\.", ".se.fc1."), (r"\.se\.fc\.2\.", ".se.fc2.")):
        if re.search(pattern, key):
            return re.sub(pattern, repl, key), False
    return None


def _timm_cbam(key: str) -> tuple[str, bool] | None:
    for pattern, repl in ((r"\.spatial\.conv\.conv\.", ".spatial.conv."), (r"\.spatial\.conv\.bn\.", ".spatial.bn.")):
        if re.search(pattern, key):
            return re.sub(pattern, repl, key), False
    return None


_CONVERTERS: tuple[tuple[str, Callable[[str], tuple[str, bool] | None]], ...] = (
    ("official-cbam", _official_cbam),
    ("senet.pytorch", _senet_pytorch),
    ("timm-cbam", _timm_cbam),
)


def _spatial_pools_mean_first(model: nn.Module, key: str) -> bool:
    module_path = key.rsplit(".", 2)[0]  # "...se.spatial.conv.weight" -> "...se.spatial"
    try:
        module = model.get_submodule(module_path)
    except AttributeError:
        return True
    return getattr(module, "pool_order", "mean_max") == "mean_max"


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> tuple[StateDict, str | None]:
    """(converted state_dict, converter name) — or (input, None) when no layout is recognised."""
    target = model.state_dict()
    for name, rule in _CONVERTERS:
        hits = {k: rule(k) for k in state_dict}
        if not any(hits.values()):
            continue
        out: StateDict = {}
        for key, value in state_dict.items():
            hit = hits[key]
            if hit is None:
                out[key] = value
                continue
            new_key, swap = hit
            if swap and value.dim() == 4 and value.shape[1] == 2 and _spatial_pools_mean_first(model, new_key):
                value = value[:, [1, 0]]  # official [max, mean] -> our [mean, max]
            out[new_key] = _fit_fc_shape(value, target.get(new_key))
        _fill_zero_biases(out, target)
        return out, name
    return dict(state_dict), None


def _fit_fc_shape(value: torch.Tensor, wanted: torch.Tensor | None) -> torch.Tensor:
    if wanted is None or tuple(value.shape) == tuple(wanted.shape):
        return value
    if value.dim() == 2 and wanted.dim() == 4 and tuple(wanted.shape[2:]) == (1, 1):
        return value.reshape(*value.shape, 1, 1)
    if value.dim() == 4 and wanted.dim() == 2 and tuple(value.shape[2:]) == (1, 1):
        return value.reshape(value.shape[0], value.shape[1])
    return value


def _fill_zero_biases(out: StateDict, target: Mapping[str, torch.Tensor]) -> None:
    # Only for the attention FCs whose weights were converted: a missing bias elsewhere is a
    # real mismatch and must still be reported.
    for key, value in target.items():
        if not key.endswith(".bias") or key in out:
            continue
        if re.search(r"\.(se|channel)\.fc[12]\.bias$", key) and key[: -len("bias")] + "weight" in out:
            out[key] = torch.zeros_like(value, device="cpu")
