"""Shared vocabulary of the attention blocks: hidden-width rounding and gate functions."""

from __future__ import annotations

from typing import Callable, Union

from torch import nn

from ..errors import InputError

GateSpec = Union[str, Callable[[], nn.Module], nn.Module]

_GATES: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    # relu6(x + 3) / 6, the MobileNetV3 gate (Howard et al. 2019); torchvision and timm agree.
    "hard_sigmoid": nn.Hardsigmoid,
    "hardsigmoid": nn.Hardsigmoid,
}


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``, default
    ``divisor``), rounding up instead when that would go below ``round_limit`` of it (timm's rule:
    0.9 by default, 0.0 for plain nearest multiple)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def hidden_width(
    channels: int,
    reduction: float | None,
    rd_channels: int | None,
    divisor: int,
    min_channels: int,
    round_limit: float = 0.9,
) -> int:
    """Width of the excitation MLP: ``rd_channels`` if given, else ``channels / reduction``.

    With ``divisor > 1`` the width is rounded to a multiple of it; ``round_limit`` is how far
    below C/r rounding may go before it rounds up instead (0.9: MobileNetV3 / timm EfficientNet;
    0.0: timm's ``SEModule`` and ``ChannelAttn``, i.e. plain nearest multiple).
    """
    if channels < 1:
        raise InputError(f"channels must be >= 1, got {channels}")
    if rd_channels is not None:
        if rd_channels < 1:
            raise InputError(f"rd_channels must be >= 1, got {rd_channels}")
        return int(rd_channels)
    if reduction is None or reduction <= 0:
        raise InputError(f"reduction must be > 0 (the paper's r, default 16), got {reduction}")
    if divisor <= 1:
        return max(min_channels, int(channels / reduction))
    return max(min_channels, make_divisible(channels / reduction, divisor, round_limit=round_limit))


def make_gate(gate: GateSpec) -> nn.Module:
    """Build a gate module from a name (``sigmoid``/``hard_sigmoid``), a class or a module."""
    if isinstance(gate, nn.Module):
        return gate
    if isinstance(gate, str):
        try:
            return _GATES[gate.lower()]()
        except KeyError:
            raise InputError(f"unknown gate {gate!r}; expected one of {sorted(set(_GATES))}") from None
    if callable(gate):
        return gate()
    raise InputError(f"gate must be a name, a module class or a module, got {type(gate).__name__}")


def make_act(act: GateSpec) -> nn.Module:
    """Build the excitation activation (ReLU in both papers) from a name, class or module."""
    if isinstance(act, str):
        table = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "swish": nn.SiLU, "gelu": nn.GELU}
        if act.lower() not in table:
            raise InputError(f"unknown activation {act!r}; expected one of {sorted(table)}")
        return table[act.lower()](inplace=True) if act.lower() != "gelu" else nn.GELU()
    return make_gate(act)
