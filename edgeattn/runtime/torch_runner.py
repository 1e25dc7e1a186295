"""The PyTorch reference runner: the model as written, in eval mode, under ``inference_mode``.

Parity is always measured against this runner. ``run`` is safe from several threads: an eval-mode
forward does not mutate module state and ``inference_mode`` is thread-local. Outputs are
flattened (a tensor, a tuple/list, or a dict of tensors) to ``output`` / ``output0..`` / the dict
keys, in order, so that they line up positionally with an exported ONNX graph's outputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Dim, Runner, RunnerInfo, TensorSpec


class TorchRunner(Runner):
    """Run an ``nn.Module``, a :class:`edgeattn.models.LoadedModel` or any model source
    ``edgeattn.models.load_model`` understands."""

    backend = "torch"

    def __init__(
        self,
        model: Any,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        input_shape: Sequence[Dim] | None = None,
        input_name: str = "input",
        output_names: Sequence[str] | None = None,
        threads: int | None = None,
        device: str = "cpu",
        load_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from ..platform.memory import check_threads

        check_threads(threads, "threads")
        self._source = model
        self._checkpoint = checkpoint
        self._input_shape = tuple(input_shape) if input_shape is not None else None
        self._input_name = input_name
        self._output_names = list(output_names) if output_names else None
        self._threads = threads
        self._device = device
        self._load_kwargs = dict(load_kwargs or {})
        self.model: Any = None
        self._recipe: Any = None  # the recipe the model's weights expect, once loaded
        self.default_input_size: tuple[int, ...] = (3, 224, 224)
        # Unknown until the first run (the base class's _outputs is known once loaded).
        self._seen_outputs: list[TensorSpec] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _load_impl(self) -> None:
        import torch
        from torch import nn

        from ..models import LoadedModel, load_model

        source = self._source if isinstance(self._source, (nn.Module, LoadedModel)) else str(self._source)
        if not isinstance(source, str) and self._checkpoint is None:
            loaded = load_model(source)  # no loading options apply to a module given as is
        else:
            loaded = load_model(source, checkpoint=self._checkpoint, **self._load_kwargs)
        if self._threads is not None:
            # Process-wide in PyTorch: recorded in info() so a benchmark states what it used.
            torch.set_num_threads(int(self._threads))
        self.model = loaded.module.eval().to(self._device)
        self._recipe = loaded.input
        # A model source without a usable recipe: the ImageNet default size.
        self.default_input_size = loaded.input.input_size if loaded.input is not None else (3, 224, 224)
        if self._input_shape is None:
            # A CNN takes any spatial size: only the channel count is checked by default.
            self._input_shape = ("batch", self.default_input_size[0], "height", "width")

    @property
    def preprocessing(self) -> Any:
        """The model's evaluation recipe (from its source or configuration), None when unknown."""
        if not self._loaded:
            self.load()
        return self._recipe

    def _close_impl(self) -> None:
        self.model = None

    # -- metadata ----------------------------------------------------------------------------
    @property
    def inputs(self) -> list[TensorSpec]:
        if not self._loaded:
            self.load()
        return [TensorSpec(self._input_name, np.dtype(np.float32), tuple(self._input_shape or ()))]

    @property
    def outputs(self) -> list[TensorSpec]:
        if not self._loaded:
            self.load()
        if self._seen_outputs is None:
            # Not knowable without running: one dry run on a single sample fills it in.
            shape = [d if isinstance(d, int) else 1 for d in (self._input_shape or ())]
            if len(shape) == 4 and not all(isinstance(d, int) for d in (self._input_shape or ())[2:]):
                shape[1:] = self.default_input_size
            self.run(np.zeros(shape, dtype=np.float32))
        return list(self._seen_outputs or [])

    def info(self) -> RunnerInfo:
        import torch

        details: dict[str, Any] = {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            # Read by OpenMP when torch was imported; PASSIVE = idle threads sleep (runtime/spinning.py).
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (active)"),
            "model_class": type(self.model).__name__ if self.model is not None else None,
            "source": self._source if isinstance(self._source, str) else type(self._source).__name__,
        }
        return RunnerInfo(backend=self.backend, device=self._device, details=details)

    # -- inference ---------------------------------------------------------------------------
    def _run_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        tensor = torch.from_numpy(feed[self._input_name]).to(self._device)
        with torch.inference_mode():
            result = self.model(tensor)
        names, arrays = _flatten_outputs(result, self._output_names)
        if self._seen_outputs is None:
            self._seen_outputs = [
                TensorSpec(n, a.dtype, ("batch", *a.shape[1:]) if a.ndim else ()) for n, a in zip(names, arrays)
            ]
        return dict(zip(names, arrays))

    def run_with_hooks(self, inputs: np.ndarray, module_paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Run once and also capture the output of each named submodule (forward hooks).

        Used by validation to localise a divergence block by block.
        """

        if not self._loaded:
            self.load()
        feed = self.check_inputs(inputs)
        modules = dict(self.model.named_modules())
        missing = [p for p in module_paths if p not in modules]
        if missing:
            raise InputError(f"module paths not in the model: {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
        captured: dict[str, np.ndarray] = {}
        handles = []
        for path in module_paths:
            def hook(_m: Any, _i: Any, out: Any, path: str = path) -> None:
                if isinstance(out, (tuple, list)):
                    out = out[0]
                captured[path] = out.detach().cpu().float().numpy().copy()

            handles.append(modules[path].register_forward_hook(hook))
        try:
            outputs = self._run_impl(feed)
        finally:
            for handle in handles:
                handle.remove()
        return outputs, captured


def _to_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _flatten_outputs(result: Any, names: list[str] | None) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(result, dict):
        keys = [str(k) for k in result]
        arrays = [_to_numpy(v) for v in result.values()]
    elif isinstance(result, (tuple, list)):
        arrays = [_to_numpy(v) for v in result]
        keys = [f"output{i}" for i in range(len(arrays))]
    else:
        arrays = [_to_numpy(result)]
        keys = ["output"]
    if names:
        if len(names) != len(arrays):
            raise InputError(f"output names: received {len(names)} names, the model returns {len(arrays)} outputs")
        keys = list(names)
    return keys, arrays
