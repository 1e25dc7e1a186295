"""Build a TensorRT engine from an ONNX file (the API behind ``edgeattn build``).

The sequence follows NVIDIA's ONNX sample (docs/tensorrt.md F1): Builder -> network -> ONNX
parser -> builder config (memory pool, optimization profile, timing cache, flags) ->
``build_serialized_network``. Each optional step is chosen by feature detection
(:mod:`.features`) so one code path serves TensorRT 8.5 (JetPack 5.1) through 11.x.

Precision paths:

* ``strongly_typed`` (10.x/11.x): the ONNX's own types decide (FP32 graph, FP16 graph from
  ``edgeattn quantize --precision fp16``, INT8 from Q/DQ nodes); no precision flags.
* ``weak_typed`` (8.x, or ``strongly_typed=False`` on 10.x): ``BuilderFlag.FP16`` for an FP16 graph,
  ``BuilderFlag.INT8`` for a Q/DQ graph (TensorRT 8 needs it for explicit quantization).
* ``classic_fp16`` / ``classic_int8_calibration`` (only where the flags still exist, <= 10.x):
  builder-chosen FP16, or implicit INT8 with an entropy calibrator fed by our data and cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .._io import atomic_outputs, check_outputs, sha256_file, sidecar_path, write_bytes_atomic
from ..errors import BackendUnavailableError, CalibrationError, ExportError, InputError
from ..platform import cuda
from . import sidecar as sidecar_mod
from .features import Features, detect_features, import_tensorrt, network_flags
from .calibrator import load_calibration_arrays, make_entropy_calibrator
from .diagnostics import make_logger, parser_errors
from .onnx_info import read_onnx
from .options import HARDWARE_COMPATIBILITY, BuildOptions, rebuild_command
from .prepare import Preparation, parse_target, plugin_ops, prepare_file
from .profiles import Profile, compute_profiles, static_for_dla
from .timing_cache import timing_cache_for

_log = logging.getLogger("edgeattn.tensorrt")
_NO_FLAGS_HINT = (
    "TensorRT {version} has no {flag} builder flag (removed in TensorRT 11): build from a converted ONNX "
    "instead: edgeattn quantize {onnx} -o {stem}.{precision}.onnx --precision {precision}{target}"
)


def _target(precision: str) -> str:
    # Q/DQ for TensorRT must be symmetric S8 (zero-point 0): edgeattn quantize's tensorrt target.
    return " --target tensorrt" if precision == "int8" else ""



@dataclass
class BuildResult:
    """What ``build`` produced."""

    engine_path: Path
    sidecar_path: Path
    precision: str
    precision_path: str
    profiles: list[Profile]
    tensorrt_version: str
    timing_cache_path: Path | None = None
    timing_cache_status: str | None = None
    build_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    sidecar: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": str(self.engine_path),
            "sidecar": str(self.sidecar_path),
            "precision": self.precision,
            "precision_path": self.precision_path,
            "profiles": [p.to_dict() for p in self.profiles],
            "tensorrt_version": self.tensorrt_version,
            "timing_cache": str(self.timing_cache_path) if self.timing_cache_path else None,
            "timing_cache_status": self.timing_cache_status,
            "build_seconds": round(self.build_seconds, 3),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class PrecisionPlan:
    precision: str  # fp32 | fp16 | int8 (what the engine computes in, at most)
    path: str  # strongly_typed | weak_typed | classic_fp16 | classic_int8 | classic_fp16+int8
    strongly_typed: bool
    fp16_flag: bool
    int8_flag: bool
    calibrate: bool


def plan_precision(
    features: Features, onnx_precision: str, options: BuildOptions, *, onnx_path: str = "model.onnx"
) -> PrecisionPlan:
    """Decide network typing and builder flags for this TensorRT generation."""
    requested = options.precision or onnx_precision
    stem = Path(onnx_path).stem
    if requested != onnx_precision and not (options.classic_fp16 or options.classic_int8_calibration is not None):
        raise InputError(
            f"--precision {requested} requested, but {onnx_path} is a {onnx_precision} graph",
            hint=(
                f"convert it first: edgeattn quantize {onnx_path} -o {stem}.{requested}.onnx --precision {requested}"
                + _target(requested)
                + (
                    f" (or, on TensorRT <= 10, use --classic-{'fp16' if requested == 'fp16' else 'int8-calibration DATA'})"
                    if requested in ("fp16", "int8")
                    else ""
                )
            ),
        )
    classic = options.classic_fp16 or options.classic_int8_calibration is not None
    if classic and onnx_precision != "fp32":
        raise InputError(
            f"classic FP16/INT8 flags apply to an FP32 ONNX, but {onnx_path} is already {onnx_precision}",
            hint="drop --classic-fp16/--classic-int8-calibration: the graph's own precision is used",
        )
    if options.classic_fp16 and not features.fp16_flag:
        raise InputError(
            _NO_FLAGS_HINT.format(
                version=features.version, flag="FP16", onnx=onnx_path, precision="fp16", stem=stem, target=""
            )
        )
    if options.classic_int8_calibration is not None and not (features.int8_flag and features.entropy_calibrator):
        raise InputError(
            _NO_FLAGS_HINT.format(
                version=features.version,
                flag="INT8 (or calibrator)",
                onnx=onnx_path,
                precision="int8",
                stem=stem,
                target=_target("int8"),
            )
        )
    if classic:
        int8 = options.classic_int8_calibration is not None
        fp16 = options.classic_fp16
        path = "+".join(p for p, on in (("classic_fp16", fp16), ("classic_int8", int8)) if on)
        return PrecisionPlan("int8" if int8 else "fp16", path, False, fp16, int8, int8)
    if options.strongly_typed and features.strongly_typed:
        return PrecisionPlan(onnx_precision, "strongly_typed", True, False, False, False)
    # Weak typing: TensorRT picks kernels among the precisions the flags allow.
    fp16 = onnx_precision == "fp16" and features.fp16_flag
    int8 = onnx_precision == "int8" and features.int8_flag
    if onnx_precision != "fp32" and not (fp16 or int8) and not features.strongly_typed:
        raise BackendUnavailableError(
            f"TensorRT {features.version} offers neither strongly typed networks nor a {onnx_precision} builder flag"
        )
    if onnx_precision != "fp32" and not (fp16 or int8):
        # 11.x with --no-strongly-typed: weak typing is gone, the network is strongly typed anyway.
        return PrecisionPlan(onnx_precision, "strongly_typed", True, False, False, False)
    return PrecisionPlan(onnx_precision, "weak_typed", False, fp16, int8, False)


def _configure_contexts(
    trt: ModuleType, builder: Any, config: Any, features: Features, profiles: list[Profile], options: BuildOptions
) -> dict[str, Any]:
    """Add the optimization profile(s) so that ``options.contexts`` contexts can run concurrently.

    9.0+: contexts share profile 0. 8.6: only with ``PROFILE_SHARING_0806``, set on its own so the
    preview features that default to on stay on. 8.5: one identical profile per context (docs/tensorrt.md
    F14); the runner gives context k profile k.
    """
    copies = 1
    record: dict[str, Any] = {"shared_profile": True, "profiles": 1}
    if not features.contexts_share_profiles:
        if features.profile_sharing_preview:
            config.set_preview_feature(trt.PreviewFeature.PROFILE_SHARING_0806, True)
            record["preview_feature"] = "PROFILE_SHARING_0806"
        else:
            copies = int(options.contexts)
            record = {"shared_profile": False, "profiles": copies}
    for _ in range(copies):
        profile = builder.create_optimization_profile()
        for p in profiles:
            profile.set_shape(p.name, p.min, p.opt, p.max)
        config.add_optimization_profile(profile)
    return record


def _parse_prepared(parser: Any, prepared: Preparation) -> bool:
    """Hand the prepared graph to the parser from a self-contained temporary file."""
    with tempfile.TemporaryDirectory(prefix="edgeattn-trt-") as folder:
        path = os.path.join(folder, "prepared.onnx")
        with open(path, "wb") as handle:
            handle.write(prepared.model.SerializeToString())
        return bool(parser.parse_from_file(path))


def _configure_tf32(trt: ModuleType, config: Any, options: BuildOptions) -> bool:
    """Clear ``BuilderFlag.TF32`` unless asked for; returns whether TF32 stays allowed.

    TensorRT enables TF32 by default (``BuilderFlag::kTF32``, "Enabled by default", docs/tensorrt.md
    F2): on Ampere and newer GPUs (Orin is SM 8.7) FP32 convolutions and matrix products then round
    their inputs to a 10-bit mantissa, an error of about 1e-3 relative that fails FP32 parity checks.
    """
    if not hasattr(trt.BuilderFlag, "TF32"):
        return False
    if options.tf32:
        config.set_flag(trt.BuilderFlag.TF32)
        return True
    config.clear_flag(trt.BuilderFlag.TF32)
    return False


def build(
    onnx_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    options: BuildOptions | None = None,
    **kwargs: Any,
) -> BuildResult:
    """Build ``onnx_path`` into a serialized TensorRT engine at ``output`` with a JSON sidecar.

    Keyword arguments are the fields of :class:`BuildOptions` (``precision``, ``classic_fp16``,
    ``classic_int8_calibration``, ``min_batch``/``opt_batch``/``max_batch``, ``workspace``,
    ``builder_optimization_level``, ``timing_cache``, ``dla_core``, ``hardware_compatibility``,
    ``version_compatible``, ...). The engine and sidecar are written atomically.
    """
    if options is None:
        options = BuildOptions(**kwargs)
    elif kwargs:
        raise TypeError("pass either options= or keyword options, not both")
    options.validate()
    onnx_path = os.fspath(onnx_path)
    output = Path(os.fspath(output))
    if output.suffix == ".json":
        raise InputError(f"output {output} ends in .json; the engine needs its own file (e.g. model.engine)")
    # The caches are read and rewritten across builds, but never in place of the model or the engine.
    calibration = options.classic_int8_calibration
    check_outputs(
        [onnx_path, calibration if isinstance(calibration, (str, os.PathLike)) else None],
        {
            "--output": output,
            "the engine's sidecar": sidecar_path(output),
            "--timing-cache": options.timing_cache,
            "--calibration-cache": options.calibration_cache,
        },
    )
    info = read_onnx(onnx_path)  # before TensorRT: input errors surface even without a GPU
    profiles = compute_profiles(
        info.inputs,
        min_batch=options.min_batch,
        opt_batch=options.opt_batch,
        max_batch=options.max_batch,
        default_max_batch=info.artifact.max_batch if info.artifact.dynamic_batch and info.artifact.max_batch else 32,
        min_shapes=options.min_shapes,
        opt_shapes=options.opt_shapes,
        max_shapes=options.max_shapes,
    )
    warnings: list[str] = []
    if options.dla_core is not None:
        requested = any(b is not None for b in (options.min_batch, options.max_batch)) or bool(
            options.min_shapes or options.max_shapes
        )
        profiles, note = static_for_dla(profiles, range_requested=requested)
        if note:
            warnings.append(note)
    trt = import_tensorrt()
    features = detect_features(trt)
    plan = plan_precision(features, info.precision, options, onnx_path=onnx_path)
    # TensorRT builds without a CUDA layer of ours; libcudart is needed only to feed a calibrator,
    # and used, when found, to say "no CUDA device" before TensorRT fails less clearly.
    rt = cuda.load_runtime() if plan.calibrate else cuda.try_load_runtime()
    if rt is not None:
        rt.require_device(0)

    started = time.perf_counter()
    logger = make_logger(trt, verbose=options.verbose)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # no GPU / driver: pybind returns a null builder
        raise BackendUnavailableError(f"TensorRT could not create a builder ({exc}); no usable CUDA device?") from None
    network = builder.create_network(network_flags(trt, features, strongly_typed=plan.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    prepared = prepare_file(onnx_path, parse_target(features.version), plugins=plugin_ops(trt))
    if not _parse_prepared(parser, prepared):
        errors = parser_errors(parser)
        hints = []
        if prepared.kept:
            hints.append(
                f"{', '.join(prepared.kept)} kept for a registered TensorRT plugin: if named above, the plugin "
                "did not accept the node"
            )
        raise ExportError(
            f"TensorRT's ONNX parser rejected {onnx_path}: "
            + (" | ".join(errors[:3]) or "no reason given")
            + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""),
            hint="; ".join(hints) or "rerun with --verbose for TensorRT's full log",
        )

    config = builder.create_builder_config()
    if options.workspace:
        if features.memory_pool_limit:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace))
        elif features.max_workspace_size:
            config.max_workspace_size = int(options.workspace)
    contexts = _configure_contexts(trt, builder, config, features, profiles, options)

    tf32 = _configure_tf32(trt, config, options)
    if plan.fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    if plan.int8_flag:
        config.set_flag(trt.BuilderFlag.INT8)
    calibrator = None
    if plan.calibrate:
        input_name = profiles[0].name
        samples = load_calibration_arrays(
            options.classic_int8_calibration,
            input_name,
            profiles[0].opt[1:],
            limit=options.calibration_limit,
            onnx_path=onnx_path,
        )
        calibrator = make_entropy_calibrator(
            trt,
            rt,
            samples,
            input_name=input_name,
            batch_size=options.calibration_batch_size,
            cache_path=options.calibration_cache,
        )
        config.int8_calibrator = calibrator
        if hasattr(config, "set_calibration_profile"):
            # Dynamic-shape networks calibrate at one fixed shape: the calibration batch.
            cal_profile = builder.create_optimization_profile()
            shape = (options.calibration_batch_size, *profiles[0].opt[1:])
            if not profiles[0].contains(shape):
                raise CalibrationError(
                    f"calibration batch shape {list(shape)} is outside the profile ({profiles[0].describe()})",
                    hint="use --calibration-batch-size within --min-batch/--max-batch",
                )
            cal_profile.set_shape(input_name, shape, shape, shape)
            config.set_calibration_profile(cal_profile)

    if options.builder_optimization_level is not None:
        if features.optimization_level:
            config.builder_optimization_level = int(options.builder_optimization_level)
        else:
            warnings.append(f"TensorRT {features.version} has no builder optimization level; option ignored")
    hw = options.hardware_compatibility
    if hw != "none":
        member = HARDWARE_COMPATIBILITY[hw]
        if member not in features.hardware_compatibility:
            raise InputError(
                f"hardware compatibility {hw!r} is not available in TensorRT {features.version} "
                f"(available: {', '.join(m.lower() for m in features.hardware_compatibility) or 'none'})"
            )
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, member)
    if options.version_compatible:
        if not features.version_compatible_flag:
            raise InputError(f"version-compatible engines need TensorRT 8.6 or newer, this is {features.version}")
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        if options.exclude_lean_runtime:
            if not features.exclude_lean_runtime_flag:
                raise InputError(f"TensorRT {features.version} has no EXCLUDE_LEAN_RUNTIME flag")
            config.set_flag(trt.BuilderFlag.EXCLUDE_LEAN_RUNTIME)
    if options.dla_core is not None:
        num = getattr(builder, "num_DLA_cores", 0)
        if not num:
            raise InputError(
                f"DLA core {options.dla_core} requested, but this device has no DLA (Jetson AGX/NX Orin, Xavier have one)"
            )
        if options.dla_core >= num:
            raise InputError(f"DLA core {options.dla_core} requested, this device has {num} (0..{num - 1})")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(options.dla_core)
        if options.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        if plan.precision == "fp32" and not plan.fp16_flag:
            warnings.append("DLA runs only FP16/INT8 layers: an FP32 build places every layer on the GPU fallback")
    verbosity = {"detailed": "DETAILED", "layer_names_only": "LAYER_NAMES_ONLY", "none": "NONE"}[
        options.profiling_verbosity
    ]
    if hasattr(trt.ProfilingVerbosity, verbosity):
        config.profiling_verbosity = getattr(trt.ProfilingVerbosity, verbosity)

    # Timing cache: read -> set (kept alive until the build ends) -> build -> merge and write back.
    timing_cache = timing_cache_for(options.timing_cache, options.ignore_timing_cache_mismatch)
    if timing_cache is not None:
        timing_cache.attach(config)

    logger.clear()
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:  # the calibrator's device buffer, also when the build raises
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        errors = logger.errors()
        raise ExportError(
            f"TensorRT failed to build an engine from {onnx_path}: "
            + (" | ".join(errors[-5:]) if errors else "the builder returned no engine and logged no error"),
            hint="rerun with --verbose for TensorRT's full log",
        )
    plan_bytes = bytes(serialized)
    if timing_cache is not None:
        timing_cache.save(config)
        timing_cache.close()
        warnings.extend(timing_cache.warnings)

    engine_io, layers = _inspect_plan(trt, logger, plan_bytes, profiles, info, features, options)
    build_seconds = time.perf_counter() - started
    machine = sidecar_mod.probe_machine(trt, rt)
    if machine.jetson and machine.jetson.get("clocks_locked") is False:
        warnings.append("Jetson clocks are not locked (sudo jetson_clocks): tactic timing during the build varies")
    data = sidecar_mod.make_sidecar(
        engine_path=output,
        engine_sha256=hashlib.sha256(plan_bytes).hexdigest(),
        engine_bytes=len(plan_bytes),
        onnx_path=os.path.abspath(onnx_path),
        onnx_sha256=sha256_file(onnx_path),
        machine=machine,
        precision=plan.precision,
        precision_plan={
            "onnx_precision": info.precision,
            "detected_from": info.precision_source,
            "path": plan.path,
            "strongly_typed": plan.strongly_typed,
            "tf32": tf32,
        },
        profiles=[p.to_dict() for p in profiles],
        io=engine_io,
        build_options=options.to_dict(),
        features=features.to_dict(),
        rebuild_command=rebuild_command(onnx_path, str(output), options),
        blocks=info.blocks,
        # Inlined calls need no function map: their layers are named <block>/<node>.
        functions={k: v for k, v in info.functions.items() if k in prepared.kept},
        prepared=prepared.to_dict(),
        contexts=contexts,
        provenance=info.artifact.provenance,
        layers=layers,
    )
    # The engine and its sidecar land together or not at all.
    with atomic_outputs() as outputs:
        outputs.write_bytes(output, plan_bytes)
        side = outputs.write_json(sidecar_path(output), data)
    for w in warnings:  # also in BuildResult.warnings (the CLI prints those)
        _log.info(w)
    return BuildResult(
        engine_path=output,
        sidecar_path=side,
        precision=plan.precision,
        precision_path=plan.path,
        profiles=profiles,
        tensorrt_version=features.version,
        timing_cache_path=timing_cache.path if timing_cache else None,
        timing_cache_status=timing_cache.status if timing_cache else None,
        build_seconds=build_seconds,
        warnings=warnings,
        sidecar=data,
    )


def _inspect_plan(
    trt: ModuleType,
    logger: Any,
    plan_bytes: bytes,
    profiles: list[Profile],
    info: Any,
    features: Features,
    options: BuildOptions,
) -> tuple[list[dict[str, Any]], Any]:
    """I/O tensors (and the inspector's layer list) from the built plan; ONNX shapes as fallback."""
    io: list[dict[str, Any]] = []
    layers: Any = None
    try:
        runtime = trt.Runtime(logger)
        if options.version_compatible and features.engine_host_code_allowed:
            runtime.engine_host_code_allowed = True  # the plan embeds its lean runtime
        if options.dla_core is not None:
            runtime.DLA_core = int(options.dla_core)
        engine = runtime.deserialize_cuda_engine(plan_bytes)
    except Exception:
        engine = None
    if engine is not None:
        for i in range(int(engine.num_io_tensors)):
            name = engine.get_tensor_name(i)
            mode = engine.get_tensor_mode(name)
            try:
                import numpy as np

                dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
            except Exception:
                dtype = str(engine.get_tensor_dtype(name))
            io.append(
                {
                    "name": name,
                    "mode": "input" if mode == trt.TensorIOMode.INPUT else "output",
                    "dtype": dtype,
                    "shape": [int(d) for d in engine.get_tensor_shape(name)],
                }
            )
        if hasattr(engine, "create_engine_inspector") and hasattr(trt, "LayerInformationFormat"):
            try:
                inspector = engine.create_engine_inspector()
                import json

                raw = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
                parsed = json.loads(raw) if raw else None
                layers = parsed.get("Layers") if isinstance(parsed, dict) else parsed
            except Exception:
                layers = None
        del engine
    else:
        for i in info.inputs:
            io.append({"name": i.name, "mode": "input", "dtype": i.dtype, "shape": [d if isinstance(d, int) else -1 for d in i.shape]})
        for o in info.outputs:
            io.append({"name": o.name, "mode": "output", "dtype": o.dtype, "shape": [d if isinstance(d, int) else -1 for d in o.shape]})
    return io, layers
