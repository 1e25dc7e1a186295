"""Key converters for SE/CBAM checkpoints saved by other implementations.

Each converter recognises a layout by its key names, renames keys to edgeattn's, reshapes
``nn.Linear`` weights [out, in] to 1x1-conv weights [out, in, 1, 1] (or back) as the target
model needs, and fills absent FC biases with zeros (a layer without bias equals one with a
zero bias). See /docs/models.md and the shared checkpoint-formats table.

- official CBAM code (Jongchan/attention-module): ``layerL.B.cbam.ChannelGate.mlp.{1,3}`` and
  ``cbam.SpatialGate.spatial.{conv,bn}``; its spatial pooling is concatenated as [max, mean], so
  the 7x7 conv's two input channels are swapped when the target pools [mean, max].
- senet.pytorch (moskomule): ``layerL.B.se.fc.{0,2}`` Linear, bias-free since Dec 2018. Its SE
  hidden width is ``C // r`` (``senet/se_module.py``), not timm's multiple of 8: 4 in the first
  stage of SE-ResNet-18/34, where the zoo's default gives 8. ``se_width_options`` reads the rule
  (and r) from the checkpoint's FC shapes, and ``load_model`` rebuilds the zoo model with it.
- timm CBAM (``attn_layer='cbam'``): ``se.spatial.conv.conv`` / ``se.spatial.conv.bn``,
  bias-free channel MLP.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

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


# ------------------------------------------------------------------ SE hidden-width rule
# Module path and (channels, hidden) from an SE FC1 weight in senet.pytorch's layout (Linear
# [hidden, C]) or edgeattn's/timm's (1x1 conv [hidden, C, 1, 1]).
_SE_FC1 = re.compile(r"^(?P<path>.*\.se)\.(?:fc\.0|fc1)\.weight$")


def _checkpoint_se_widths(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    widths = {}
    for key, value in state_dict.items():
        match = _SE_FC1.match(key)
        if match and isinstance(value, torch.Tensor) and value.dim() in (2, 4):
            widths[match["path"]] = (int(value.shape[1]), int(value.shape[0]))
    return widths


def se_width_options(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Zoo-model options (``se_width``, ``reduction``) under which an SE-ResNet fits the checkpoint.

    ``{}`` when ``model`` is not an edgeattn SE-ResNet, when its SE widths already equal the
    checkpoint's, or when no rule explains the checkpoint's widths. r is read from the widest
    block (where neither rule rounds: 512 // 32 = 16); a rule is accepted only if it reproduces
    every block's width, so a checkpoint of another architecture is never "fitted" by accident.
    """
    from .checkpoint import strip_prefixes
    from .resnet import SE_WIDTH_RULES, ResNet, se_hidden_width

    if not isinstance(model, ResNet):
        return {}
    ours = {name: m.rd_channels for name, m in model.named_modules() if name.endswith(".se") and hasattr(m, "rd_channels")}
    theirs = _checkpoint_se_widths(strip_prefixes(dict(state_dict)))
    if not ours or set(theirs) != set(ours):
        return {}
    if all(ours[path] == hidden for path, (_, hidden) in theirs.items()):
        return {}
    channels, hidden = max(theirs.values())
    if hidden < 1 or channels % hidden:
        return {}
    reduction = channels // hidden
    for rule in SE_WIDTH_RULES:
        if all(se_hidden_width(c, reduction, rule) == h for c, h in theirs.values()):
            return {"se_width": rule} if reduction == 16 else {"se_width": rule, "reduction": reduction}
    return {}


# Layouts recognised but not converted: the hint names the model that loads them as they are.
_LEGACY_SENET_DEPTHS: dict[tuple[str, tuple[int, ...]], str] = {
    ("basic", (2, 2, 2, 2)): "legacy_seresnet18",
    ("basic", (3, 4, 6, 3)): "legacy_seresnet34",
    ("bottleneck", (3, 4, 6, 3)): "legacy_seresnet50",
    ("bottleneck", (3, 4, 23, 3)): "legacy_seresnet101",
    ("bottleneck", (3, 8, 36, 3)): "legacy_seresnet152",
    ("resnext", (2, 2, 2, 2)): "legacy_seresnext26_32x4d",
    ("resnext", (3, 4, 6, 3)): "legacy_seresnext50_32x4d",
    ("resnext", (3, 4, 23, 3)): "legacy_seresnext101_32x4d",
    ("senet154", (3, 8, 36, 3)): "legacy_senet154",
}


def legacy_senet_model(keys: list[str], shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """The timm model that loads a Cadene ``pretrainedmodels`` / timm ``legacy_*senet`` checkpoint.

    That layout (``layer0`` stem, ``layerL.B.se_module.fc1``, ``last_linear``; pretrainedmodels
    ``models/senet.py``) differs from edgeattn's SE-ResNets in more than names (the stride sits on
    the first 1x1 conv, SENet-154 has a three-conv stem), so it is pointed at, not converted.
    Returns ``timm:<name>`` or ``None`` when the keys are not that layout.
    """
    if not any(k.startswith("layer0.") for k in keys) or not any(".se_module." in k for k in keys):
        return None
    if "last_linear.weight" not in keys:
        return None
    blocks = tuple(len({k.split(".")[1] for k in keys if k.startswith(f"layer{i}.")}) for i in range(1, 5))
    if "layer0.conv2.weight" in keys:
        kind = "senet154"
    elif "layer1.0.conv3.weight" not in keys:
        kind = "basic"
    else:
        # SE-ResNeXt's first bottleneck conv is twice as wide as SE-ResNet's (128 vs 64 channels).
        kind = "resnext" if shapes.get("layer1.0.conv1.weight", (0,))[0] == 128 else "bottleneck"
    name = _LEGACY_SENET_DEPTHS.get((kind, blocks))
    return f"timm:{name}" if name else "timm:legacy_seresnet50 (or the legacy_se* model of its depth)"
