"""Parameter and multiply-add counts.

The SENet and CBAM papers' "GFLOPs" are multiply-adds (MACs) of the conv and FC layers at
224x224: ``macs`` here counts exactly those (torch.utils.flop_counter counts 2 FLOPs per
multiply-add of convolution/matmul; we halve it). Element-wise work (BN, ReLU, pooling, the
attention scaling) is not counted, as in the papers. ``gflops`` = ``macs / 1e9`` under that
convention; ``flops_x2`` gives the two-ops-per-MAC figure some tools print.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from ..errors import InputError


GFLOPS_DEFINITION = "multiply-adds of conv/linear layers / 1e9 (as the SENet/CBAM papers)"


def count_params(model: nn.Module) -> int:
    """Number of parameters (not buffers), shared parameters counted once
    (``Module.parameters()`` yields each parameter once)."""
    return sum(p.numel() for p in model.parameters())


def _count_macs(model: nn.Module, example: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(example)
    return int(counter.get_total_flops()) // 2


def model_profile(model: nn.Module, input_size: tuple[int, ...] = (3, 224, 224)) -> dict[str, Any]:
    """``{"params", "macs", "gflops", "flops_x2", "input_size"}`` of ``model`` for one image.

    ``input_size`` is (C, H, W). The count runs on the meta device when the model can be copied
    there (no memory, no compute); otherwise on the model's own device with a zero input.
    ``macs``/``gflops`` are None when the model cannot be traced by the flop counter
    (some TorchScript archives).
    """
    if len(input_size) != 3 or any(int(v) < 1 for v in input_size):
        raise InputError(f"input_size must be (C, H, W) with positive entries, got {tuple(input_size)}")
    shape = (1, *(int(v) for v in input_size))
    params = count_params(model)
    macs: int | None
    try:
        macs = _macs_on_meta(model, shape)
    except Exception:  # noqa: BLE001 - fall back to a real forward pass below
        macs = None
    if macs is None:
        from .footprint import check_forward

        check_forward(model, shape, "the FLOP count")  # the fallback below allocates the input
        try:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            macs = _count_macs(model, torch.zeros(shape, device=device))
        except Exception:  # noqa: BLE001 - the counter cannot trace every model; report None
            macs = None
    return {
        "params": params,
        "macs": macs,
        "gflops": None if macs is None else macs / 1e9,
        "flops_x2": None if macs is None else 2 * macs,
        "input_size": list(shape[1:]),
        "gflops_definition": GFLOPS_DEFINITION,
    }


def _macs_on_meta(model: nn.Module, shape: tuple[int, ...]) -> int | None:
    if isinstance(model, torch.jit.ScriptModule):
        return None
    if any(p.device.type == "meta" for p in model.parameters()):
        return _count_macs(model, torch.zeros(shape, device="meta"))
    # deepcopy + to("meta") keeps the caller's model untouched; memory is freed on return.
    meta = copy.deepcopy(model).to("meta")
    return _count_macs(meta, torch.zeros(shape, device="meta"))


def count_macs_by_hooks(model: nn.Module, example: torch.Tensor) -> int:
    """MACs of ``nn.Conv2d``/``nn.Linear`` modules from forward hooks (exact for layer-only models).

    Much faster than the dispatch-level counter (no per-op Python), used for the registry table;
    misses functional matmuls, so ``model_profile`` keeps the general counter.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += out.numel() // out.shape[0] * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() // out.shape[0] * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return total


def profile_registry_model(
    factory: Callable[..., nn.Module], input_size: tuple[int, int, int] = (3, 224, 224)
) -> dict[str, Any]:
    """Profile a registry factory by building it directly on the meta device (milliseconds)."""
    with torch.device("meta"):
        model = factory(num_classes=1000)
    macs = count_macs_by_hooks(model, torch.zeros((1, *input_size), device="meta"))
    return {
        "params": count_params(model),
        "macs": macs,
        "gflops": macs / 1e9,
        "flops_x2": 2 * macs,
        "input_size": list(input_size),
        "gflops_definition": GFLOPS_DEFINITION,
    }

