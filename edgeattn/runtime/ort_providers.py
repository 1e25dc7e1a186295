"""ONNX Runtime's TensorRT and CUDA execution providers: provider lists with their options.

The second GPU path beside our own TensorRT runner: ONNX Runtime builds TensorRT engines for the
subgraphs it can place on TensorRT and caches them. The option names are those of
``tensorrt_execution_provider_info.cc`` / ``cuda_execution_provider_info.cc``
(docs/tensorrt.md F6). Without an engine cache a Jetson session can take a minute to start
(onnxruntime#7499), so the engine and timing caches are on by default here. ORT silently falls
back to the CPU when a provider fails to initialise: use :func:`check_providers` after creating
the session.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

from ..errors import BackendUnavailableError, InputError

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
# typing generics: the alias is evaluated (list[...] needs 3.9, X | Y 3.10).
ProviderList = List[Union[str, Tuple[str, Dict[str, str]]]]


def _shape_string(shapes: Mapping[str, Sequence[int]]) -> str:
    """``{"input": (1,3,224,224)}`` -> ``"input:1x3x224x224"`` (ORT's profile shape syntax)."""
    return ",".join(f"{name}:{'x'.join(str(int(d)) for d in shape)}" for name, shape in shapes.items())


def _flag(value: bool) -> str:
    return "True" if value else "False"


def _cache_options(
    cache: Path, engine_cache: bool, engine_cache_prefix: str | None, timing_cache: bool, engine_hw_compatible: bool
) -> dict[str, Any]:
    """The engine and timing cache options, both kept in ``cache`` (created here)."""
    cache.mkdir(parents=True, exist_ok=True)
    opts: dict[str, Any] = {}
    if engine_cache:
        opts["trt_engine_cache_enable"] = True
        opts["trt_engine_cache_path"] = str(cache)
        if engine_cache_prefix:
            opts["trt_engine_cache_prefix"] = engine_cache_prefix
        if engine_hw_compatible:
            opts["trt_engine_hw_compatible"] = True
    if timing_cache:
        opts["trt_timing_cache_enable"] = True
        opts["trt_timing_cache_path"] = str(cache)
    return opts


def _profile_options(
    min_shapes: Mapping[str, Sequence[int]] | None,
    opt_shapes: Mapping[str, Sequence[int]] | None,
    max_shapes: Mapping[str, Sequence[int]] | None,
) -> dict[str, Any]:
    """The optimization profile options: all three shape sets or none."""
    given = [s for s in (min_shapes, opt_shapes, max_shapes) if s]
    if not given:
        return {}
    if len(given) != 3:
        raise InputError("TensorRT EP profile shapes need all three of min_shapes, opt_shapes and max_shapes")
    return {
        "trt_profile_min_shapes": _shape_string(min_shapes or {}),
        "trt_profile_opt_shapes": _shape_string(opt_shapes or {}),
        "trt_profile_max_shapes": _shape_string(max_shapes or {}),
    }


def tensorrt_provider_options(
    *,
    device_id: int = 0,
    fp16: bool = False,
    int8: bool = False,
    int8_calibration_table: str | None = None,
    cache_dir: str | os.PathLike[str] | None = "trt_cache",
    engine_cache: bool = True,
    engine_cache_prefix: str | None = None,
    timing_cache: bool = True,
    engine_hw_compatible: bool = False,
    min_shapes: Mapping[str, Sequence[int]] | None = None,
    opt_shapes: Mapping[str, Sequence[int]] | None = None,
    max_shapes: Mapping[str, Sequence[int]] | None = None,
    builder_optimization_level: int | None = None,
    max_workspace_size: int | None = None,
    min_subgraph_size: int | None = None,
    dla_core: int | None = None,
    cuda_graph: bool = False,
    op_types_to_exclude: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Options for ``("TensorrtExecutionProvider", options)``; values as ORT expects (strings).

    ``fp16``/``int8`` are TensorRT's weak-typing flags (TensorRT <= 10.x); for a Q/DQ or FP16
    ONNX leave them off: the graph carries its precision. Profile shapes must be given together
    (min, opt and max) for dynamic inputs.
    """
    opts: dict[str, Any] = {"device_id": device_id}
    if fp16:
        opts["trt_fp16_enable"] = True
    if int8:
        opts["trt_int8_enable"] = True
        if int8_calibration_table:
            opts["trt_int8_calibration_table_name"] = int8_calibration_table
    if cache_dir is not None and (engine_cache or timing_cache):
        opts.update(_cache_options(Path(cache_dir), engine_cache, engine_cache_prefix, timing_cache, engine_hw_compatible))
    opts.update(_profile_options(min_shapes, opt_shapes, max_shapes))
    if builder_optimization_level is not None:
        if not 0 <= builder_optimization_level <= 5:
            raise InputError(f"builder optimization level must be 0..5, received {builder_optimization_level}")
        opts["trt_builder_optimization_level"] = builder_optimization_level
    if max_workspace_size is not None:
        opts["trt_max_workspace_size"] = int(max_workspace_size)
    if min_subgraph_size is not None:
        opts["trt_min_subgraph_size"] = int(min_subgraph_size)
    if dla_core is not None:
        opts["trt_dla_enable"] = True
        opts["trt_dla_core"] = int(dla_core)
    if cuda_graph:
        opts["trt_cuda_graph_enable"] = True
    if op_types_to_exclude:
        opts["trt_op_types_to_exclude"] = ",".join(op_types_to_exclude)
    opts.update(extra or {})
    return {k: (_flag(v) if isinstance(v, bool) else str(v)) for k, v in opts.items()}


def cuda_provider_options(
    *,
    device_id: int = 0,
    gpu_mem_limit: int | None = None,
    arena_extend_strategy: str = "kNextPowerOfTwo",
    cudnn_conv_algo_search: str = "EXHAUSTIVE",
    do_copy_in_default_stream: bool = True,
    cuda_graph: bool = False,
    prefer_nhwc: bool = False,
) -> dict[str, str]:
    """Options for ``("CUDAExecutionProvider", options)``."""
    if arena_extend_strategy not in ("kNextPowerOfTwo", "kSameAsRequested"):
        raise InputError(f"arena_extend_strategy {arena_extend_strategy!r} is not kNextPowerOfTwo/kSameAsRequested")
    if cudnn_conv_algo_search not in ("EXHAUSTIVE", "HEURISTIC", "DEFAULT"):
        raise InputError(f"cudnn_conv_algo_search {cudnn_conv_algo_search!r} is not EXHAUSTIVE/HEURISTIC/DEFAULT")
    opts: dict[str, Any] = {
        "device_id": device_id,
        "arena_extend_strategy": arena_extend_strategy,
        "cudnn_conv_algo_search": cudnn_conv_algo_search,
        "do_copy_in_default_stream": do_copy_in_default_stream,
    }
    if gpu_mem_limit is not None:
        opts["gpu_mem_limit"] = int(gpu_mem_limit)
    if cuda_graph:
        opts["enable_cuda_graph"] = True
    if prefer_nhwc:
        opts["prefer_nhwc"] = True
    return {k: (_flag(v) if isinstance(v, bool) else str(v)) for k, v in opts.items()}


def providers(
    backend: str = "tensorrt",
    *,
    tensorrt_options: Mapping[str, str] | None = None,
    cuda_options: Mapping[str, str] | None = None,
) -> ProviderList:
    """Provider list for ``onnxruntime.InferenceSession``: TensorRT -> CUDA -> CPU, or CUDA -> CPU.

    Unplaceable nodes fall through to the next provider, so the CPU EP always ends the list.
    """
    trt_opts = dict(tensorrt_options) if tensorrt_options is not None else tensorrt_provider_options()
    cuda_opts = dict(cuda_options) if cuda_options is not None else cuda_provider_options()
    if backend in ("tensorrt", "ort-tensorrt", "trt"):
        return [(TRT_EP, trt_opts), (CUDA_EP, cuda_opts), CPU_EP]
    if backend in ("cuda", "ort-cuda"):
        return [(CUDA_EP, cuda_opts), CPU_EP]
    raise InputError(f"ONNX Runtime GPU backend {backend!r} is not one of tensorrt, cuda")


def check_providers(session: Any, wanted: str = TRT_EP) -> list[str]:
    """Raise :class:`BackendUnavailableError` if ``wanted`` is not active in ``session``.

    ``onnxruntime.get_available_providers()`` lists compiled-in providers even when CUDA or
    TensorRT libraries are missing; only ``session.get_providers()`` says what is active
    (onnxruntime#17801).
    """
    active = list(session.get_providers())
    if wanted not in active:
        raise BackendUnavailableError(
            f"ONNX Runtime did not activate {wanted} (active: {', '.join(active)}); it fell back silently",
            hint="install onnxruntime-gpu (not alongside onnxruntime) with matching CUDA/cuDNN/TensorRT libraries; "
            "onnxruntime.preload_dlls() can load them from the nvidia pip packages",
        )
    return active
