"""Memory a model needs, known before anything large is allocated.

A class count or an input shape given on the command line decides how much memory a model
build or a forward pass takes; a typo (``--num-classes 1000000000``, ``--input-size
3,40000,40000``) should end in one line that says how much was asked and how much there is,
not in the allocator's traceback or the kernel's OOM killer. Both figures come from PyTorch's
``meta`` device, which carries shapes and dtypes but no storage: the model is built there first
to count its parameters, and a forward pass with meta parameters gives the activation sizes.

Each estimate returns None when the model cannot run on the meta device (a factory that
downloads weights, a forward that leaves PyTorch for NumPy); the work then goes ahead unchecked,
as it would without the estimate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from ..platform.memory import check_allocation

ModelT = TypeVar("ModelT", bound=nn.Module)


def tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in ``value`` (a tensor, or nested tuples / lists / dicts of them)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    return 0


def parameter_bytes_on_meta(build: Callable[[], nn.Module]) -> int | None:
    """Parameter and buffer bytes of the model ``build()`` returns, built on the meta device."""
    try:
        with torch.device("meta"):
            model = build()
    except Exception:  # noqa: BLE001 - any factory failure here means "unknown", the real build reports it
        return None
    if not isinstance(model, nn.Module):
        return None
    return sum(tensor_bytes(t) for t in itertools.chain(model.parameters(), model.buffers()))


def build_checked(build: Callable[[], ModelT], what: str) -> ModelT:
    """``build()``, refused in one line first when its parameters cannot fit in memory."""
    nbytes = parameter_bytes_on_meta(build)
    if nbytes is not None:
        check_allocation(nbytes, f"{what} (parameters)", hint="check the class count and the model options")
    return build()


def forward_bytes(model: nn.Module, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> int | None:
    """Estimated peak memory of one inference forward pass of ``model`` on an input of ``shape``.

    Without autograd a layer's input and output are alive together and little else is, so the
    estimate is the input plus the two largest activations (each leaf module's output).
    """
    if isinstance(model, torch.jit.ScriptModule):
        return None  # no forward hooks and no functional_call on TorchScript
    meta_state = {
        name: torch.empty_like(t, device="meta")
        for name, t in itertools.chain(model.named_parameters(), model.named_buffers())
    }
    sizes: list[int] = []

    def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
        sizes.append(tensor_bytes(output))

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(record) for m in leaves]
    example = torch.empty(tuple(int(d) for d in shape), dtype=dtype, device="meta")
    try:
        with torch.no_grad():
            torch.func.functional_call(model, meta_state, (example,))
    except Exception:  # noqa: BLE001 - not runnable on meta: no estimate, the real pass decides
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return tensor_bytes(example) + sum(sorted(sizes, reverse=True)[:2])


def check_forward(model: nn.Module, shape: Sequence[int], what: str, *, copies: int = 1) -> None:
    """Refuse, in one line, a forward pass at ``shape`` (``copies`` of it alive at once) that cannot fit."""
    nbytes = forward_bytes(model, shape)
    if nbytes is not None:
        check_allocation(
            copies * nbytes,
            f"{what} at input {list(shape)}",
            hint="use a smaller input shape or batch",
        )
