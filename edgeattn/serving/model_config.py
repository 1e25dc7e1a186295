"""Triton ``config.pbtxt`` files built and checked with Triton's own schema.

The messages are ``inference.ModelConfig`` from Triton's ``model_config.proto``
(triton-inference-server/common, ``protobuf/model_config.proto``), in the compiled form that
``tritonclient`` ships (``tritonclient.grpc.model_config_pb2``); the text is protobuf text format,
which is what Triton parses. Building the message instead of formatting strings means a field
name or enum value Triton would reject cannot be written, and every file is parsed back with the
same schema before it lands in a repository.

Shapes follow Triton's rule: with ``max_batch_size > 0`` the batch axis is implicit and ``dims``
lists the remaining axes; with ``max_batch_size: 0`` ``dims`` is the full shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, InputError
from .artifact_info import ArtifactInfo, TensorInfo

# numpy dtype name -> Triton DataType enum name (model_config.proto, enum DataType).
_TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
    "object": "TYPE_STRING",  # Triton's BYTES tensors
}


def schema() -> ModuleType:
    """Triton's compiled ``model_config.proto`` (from ``tritonclient``)."""
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError as exc:
        raise BackendUnavailableError(
            f"Triton's model configuration schema is not installed ({exc})",
            hint='pip install "edgeattn[serving]" (tritonclient[grpc,http])',
        ) from None
    return model_config_pb2


def triton_type(dtype: Any) -> str:
    name = np.dtype(dtype).name
    if name not in _TRITON_TYPES:
        raise InputError(f"tensor dtype {name} has no Triton data type, expected one of {sorted(_TRITON_TYPES)}")
    return _TRITON_TYPES[name]


@dataclass(frozen=True)
class Batching:
    """``max_batch_size`` and the dynamic batcher (Triton docs: user_guide/batcher.md)."""

    max_batch: int  # 0 = the model does not batch (fixed-shape artifact)
    dynamic: bool = True
    preferred: tuple[int, ...] = ()
    queue_delay_us: int = 500


@dataclass(frozen=True)
class Instances:
    """``instance_group``: how many copies of the model, on which kind of device."""

    count: int = 1
    kind: str = "cpu"  # cpu or gpu


def tensor_dims(tensor: TensorInfo, batched: bool) -> list[int]:
    """The ``dims`` Triton expects for ``tensor``: without the batch axis when the model batches."""
    return list(tensor.shape[1:] if batched else tensor.shape)


def build_config(
    name: str,
    *,
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
    batching: Batching,
    platform: str | None = None,
    backend: str | None = None,
    instances: Instances | None = None,
    parameters: Mapping[str, str] | None = None,
    warmup: bool = False,
    tensorrt_accelerator: str | None = None,
) -> Any:
    """A ``ModelConfig`` message; ``inputs``/``outputs`` carry full shapes (batch axis first)."""
    pb = schema()
    config = pb.ModelConfig(name=name, max_batch_size=batching.max_batch)
    if platform:
        config.platform = platform
    if backend:
        config.backend = backend
    batched = batching.max_batch > 0
    for tensor in inputs:
        config.input.add(name=tensor.name, data_type=triton_type(tensor.dtype), dims=tensor_dims(tensor, batched))
    for tensor in outputs:
        config.output.add(name=tensor.name, data_type=triton_type(tensor.dtype), dims=tensor_dims(tensor, batched))
    if batched and batching.dynamic:
        config.dynamic_batching.max_queue_delay_microseconds = batching.queue_delay_us
        config.dynamic_batching.preferred_batch_size.extend(batching.preferred)
    if instances is not None:
        kind = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}[instances.kind]
        config.instance_group.add(count=instances.count, kind=kind)
    for key, value in (parameters or {}).items():
        config.parameters[key].string_value = value
    if warmup:
        sample = config.model_warmup.add(name="edgeattn_random_sample", batch_size=1)
        for tensor in inputs:
            entry = sample.inputs[tensor.name]
            entry.data_type = triton_type(tensor.dtype)
            entry.dims.extend(tensor_dims(tensor, batched))
            entry.random_data = True
    if tensorrt_accelerator:
        # onnxruntime_backend README, "ONNX Runtime with TensorRT optimization".
        accel = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
        accel.parameters["precision_mode"] = tensorrt_accelerator
        accel.parameters["max_workspace_size_bytes"] = str(1 << 30)
    return config


def ensemble_config(
    name: str,
    *,
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
    max_batch: int,
    steps: Sequence[tuple[str, Mapping[str, str], Mapping[str, str]]],
) -> Any:
    """An ensemble (``platform: "ensemble"``); each step is (model, {its input: tensor}, {its output: tensor})."""
    pb = schema()
    config = pb.ModelConfig(name=name, platform="ensemble", max_batch_size=max_batch)
    batched = max_batch > 0
    for tensor in inputs:
        config.input.add(name=tensor.name, data_type=triton_type(tensor.dtype), dims=tensor_dims(tensor, batched))
    for tensor in outputs:
        config.output.add(name=tensor.name, data_type=triton_type(tensor.dtype), dims=tensor_dims(tensor, batched))
    for model, input_map, output_map in steps:
        step = config.ensemble_scheduling.step.add(model_name=model, model_version=-1)
        for key, value in input_map.items():
            step.input_map[key] = value
        for key, value in output_map.items():
            step.output_map[key] = value
    return config


def to_text(config: Any) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(config)


def parse_config(text: str, where: str = "config.pbtxt") -> Any:
    """Parse ``text`` with Triton's schema; an unknown field or bad value is an :class:`InputError`."""
    from google.protobuf import text_format

    pb = schema()
    try:
        return text_format.Parse(text, pb.ModelConfig())
    except text_format.ParseError as exc:
        raise InputError(f"{where} does not parse with Triton's model_config.proto: {exc}") from None


def config_problems(config: Any, info: ArtifactInfo | None = None) -> list[str]:
    """What is wrong with a parsed config on its own and, given ``info``, against the artifact."""
    pb = schema()
    problems: list[str] = []
    batched = config.max_batch_size > 0
    if config.HasField("dynamic_batching") and not batched:
        problems.append("dynamic_batching needs max_batch_size > 0")
    for size in config.dynamic_batching.preferred_batch_size:
        if not 0 < size <= config.max_batch_size:
            problems.append(f"preferred batch size {size} is outside 1..max_batch_size ({config.max_batch_size})")
    if info is None:
        return problems
    if batched and not info.dynamic_batch:
        artifact = info.path.name if info.path is not None else "the artifact"
        problems.append(f"max_batch_size {config.max_batch_size} but {artifact} has a fixed batch")
    if config.max_batch_size > max(info.max_batch, 0) and info.dynamic_batch:
        problems.append(f"max_batch_size {config.max_batch_size} exceeds the artifact's {info.max_batch}")
    for label, declared, tensors in (("input", config.input, info.inputs), ("output", config.output, info.outputs)):
        got = {t.name: t for t in declared}
        want = {t.name: t for t in tensors}
        if set(got) != set(want):
            problems.append(f"{label} names {sorted(got)} differ from the artifact's {sorted(want)}")
            continue
        for tensor_name, tensor in want.items():
            entry = got[tensor_name]
            dtype = pb.DataType.Name(entry.data_type)
            if dtype != triton_type(tensor.dtype):
                problems.append(f"{label} {tensor_name!r}: data_type {dtype}, the artifact has {triton_type(tensor.dtype)}")
            if list(entry.dims) != tensor_dims(tensor, batched):
                problems.append(
                    f"{label} {tensor_name!r}: dims {list(entry.dims)}, the artifact has {tensor_dims(tensor, batched)}"
                )
    return problems


def ensemble_problems(ensemble: Any, members: Mapping[str, Any]) -> list[str]:
    """Check that every step of ``ensemble`` maps onto real inputs/outputs of ``members`` (by name)."""
    problems: list[str] = []
    available = {t.name for t in ensemble.input}
    for step in ensemble.ensemble_scheduling.step:
        member = members.get(step.model_name)
        if member is None:
            problems.append(f"step model {step.model_name!r} is not in the repository")
            continue
        names_in = {t.name for t in member.input}
        names_out = {t.name for t in member.output}
        if set(step.input_map) != names_in:
            problems.append(f"step {step.model_name!r} feeds {sorted(step.input_map)}, the model takes {sorted(names_in)}")
        for tensor in step.input_map.values():
            if tensor not in available:
                problems.append(f"step {step.model_name!r} reads {tensor!r}, which no earlier step produces")
        for key, tensor in step.output_map.items():
            if key not in names_out:
                problems.append(f"step {step.model_name!r} maps output {key!r}, the model gives {sorted(names_out)}")
            available.add(tensor)
    for tensor in ensemble.output:
        if tensor.name not in available:
            problems.append(f"ensemble output {tensor.name!r} is produced by no step")
    return problems
