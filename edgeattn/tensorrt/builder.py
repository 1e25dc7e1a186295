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
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .._io import atomic_outputs, check_outputs, sha256_file, sidecar_path
from ..artifact import refuse_baked
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


def _check_precision_request(features: Features, onnx_precision: str, options: BuildOptions, onnx_path: str) -> None:
    """Refuse a precision the graph is not in, or classic flags this TensorRT (or graph) cannot take."""
    requested = options.precision or onnx_precision
    stem = Path(onnx_path).stem
    classic = options.classic_fp16 or options.classic_int8_calibration is not None
    if requested != onnx_precision and not classic:
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


def plan_precision(
    features: Features, onnx_precision: str, options: BuildOptions, *, onnx_path: str = "model.onnx"
) -> PrecisionPlan:
    """Decide network typing and builder flags for this TensorRT generation."""
    _check_precision_request(features, onnx_precision, options, onnx_path)
    classic = options.classic_fp16 or options.classic_int8_calibration is not None
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


@dataclass(frozen=True)
class _Network:
    """The parsed network and what has to outlive it until the build ends.

    The parser owns the weights the network points at, so it is kept alongside the network.
    """

    trt: ModuleType
    features: Features
    plan: PrecisionPlan
    logger: Any
    builder: Any
    network: Any
    parser: Any
    prepared: Preparation


@dataclass(frozen=True)
class _Configured:
    """The builder config and the choices recorded in the sidecar."""

    config: Any
    contexts: dict[str, Any]
    tf32: bool
    calibrator: Any = None


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

    Stages: check the request, read the ONNX and its profiles (before TensorRT, so input errors
    surface without a GPU), parse, configure, serialise, inspect the plan, write engine + sidecar.
    """
    options = _resolve_options(options, kwargs)
    source = os.fspath(onnx_path)
    target = _check_paths(source, Path(os.fspath(output)), options)
    info = read_onnx(source)
    warnings: list[str] = []
    profiles = _plan_profiles(info, options, warnings)
    trt = import_tensorrt()
    features = detect_features(trt)
    plan = plan_precision(features, info.precision, options, onnx_path=source)
    rt = _cuda_runtime(plan)
    started = time.perf_counter()
    net = _parse(trt, features, plan, source, options)
    configured = _configure(net, profiles, options, rt, source, warnings)
    timing_cache = timing_cache_for(options.timing_cache, options.ignore_timing_cache_mismatch)
    plan_bytes = _serialise(net, configured, timing_cache, source, warnings)
    engine_io, layers = _inspect_plan(net.trt, net.logger, plan_bytes, profiles, info, net.features, options)
    build_seconds = time.perf_counter() - started
    data = _sidecar(net, configured, info, profiles, options, source, target, plan_bytes, rt, engine_io, layers, warnings)
    side = _write(target, plan_bytes, data, source)
    for w in warnings:  # also in BuildResult.warnings (the CLI prints those)
        _log.info(w)
    return BuildResult(
        engine_path=target,
        sidecar_path=side,
        precision=net.plan.precision,
        precision_path=net.plan.path,
        profiles=profiles,
        tensorrt_version=net.features.version,
        timing_cache_path=timing_cache.path if timing_cache else None,
        timing_cache_status=timing_cache.status if timing_cache else None,
        build_seconds=build_seconds,
        warnings=warnings,
        sidecar=data,
    )


# -- stage: check the request --------------------------------------------------------------------


def _resolve_options(options: BuildOptions | None, kwargs: dict[str, Any]) -> BuildOptions:
    """``options=`` or keyword options (not both), validated."""
    if options is None:
        options = BuildOptions(**kwargs)
    elif kwargs:
        raise TypeError("pass either options= or keyword options, not both")
    options.validate()
    return options


def _check_paths(onnx_path: str, output: Path, options: BuildOptions) -> Path:
    """Refuse an output that would overwrite an input (or a ``.json`` engine path)."""
    from ..data.reference_set import reference_set_path

    if output.suffix == ".json":
        raise InputError(f"output {output} ends in .json; the engine needs its own file (e.g. model.engine)")
    # The caches are read and rewritten across builds, but never in place of the model or the engine.
    calibration = options.classic_int8_calibration
    check_outputs(
        [onnx_path, calibration if isinstance(calibration, (str, os.PathLike)) else None],
        {
            "--output": output,
            "the engine's sidecar": sidecar_path(output),
            "the engine's reference set": reference_set_path(output),
            "--timing-cache": options.timing_cache,
            "--calibration-cache": options.calibration_cache,
        },
    )
    return output


def _plan_profiles(info: Any, options: BuildOptions, warnings: list[str]) -> list[Profile]:
    """The optimization profile(s) from the ONNX inputs and the batch/shape options (static on DLA)."""
    artifact = info.artifact
    refuse_baked(artifact, info.path, "build")
    profiles = compute_profiles(
        info.inputs,
        min_batch=options.min_batch,
        opt_batch=options.opt_batch,
        max_batch=options.max_batch,
        default_max_batch=artifact.max_batch if artifact.dynamic_batch and artifact.max_batch else 32,
        min_shapes=options.min_shapes,
        opt_shapes=options.opt_shapes,
        max_shapes=options.max_shapes,
    )
    if options.dla_core is not None:
        requested = any(b is not None for b in (options.min_batch, options.max_batch)) or bool(
            options.min_shapes or options.max_shapes
        )
        profiles, note = static_for_dla(profiles, range_requested=requested)
        if note:
            warnings.append(note)
    return profiles


# -- stage: parse --------------------------------------------------------------------------------


def _cuda_runtime(plan: PrecisionPlan) -> Any:
    """libcudart when found (required to feed a calibrator), after checking there is a device.

    TensorRT builds without a CUDA layer of ours; the runtime is used, when found, to say "no CUDA
    device" before TensorRT fails less clearly.
    """
    rt = cuda.load_runtime() if plan.calibrate else cuda.try_load_runtime()
    if rt is not None:
        rt.require_device(0)
    return rt


def _parse(trt: ModuleType, features: Features, plan: PrecisionPlan, onnx_path: str, options: BuildOptions) -> _Network:
    """Builder -> network -> ONNX parser over the graph prepared for this TensorRT version."""
    logger = make_logger(trt, verbose=options.verbose)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # no GPU / driver: pybind returns a null builder
        raise BackendUnavailableError(f"TensorRT could not create a builder ({exc}); no usable CUDA device?") from None
    network = builder.create_network(network_flags(trt, features, strongly_typed=plan.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    prepared = prepare_file(onnx_path, parse_target(features.version), plugins=plugin_ops(trt))
    if not _parse_prepared(parser, prepared):
        _raise_parser_errors(parser, prepared, onnx_path)
    return _Network(trt, features, plan, logger, builder, network, parser, prepared)


def _raise_parser_errors(parser: Any, prepared: Preparation, onnx_path: str) -> None:
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


# -- stage: configure ----------------------------------------------------------------------------


def _configure(
    net: _Network, profiles: list[Profile], options: BuildOptions, rt: Any, onnx_path: str, warnings: list[str]
) -> _Configured:
    """The builder config: memory pool, profiles, precision flags, calibrator, compatibility, DLA."""
    trt, features, plan = net.trt, net.features, net.plan
    config = net.builder.create_builder_config()
    _configure_workspace(trt, config, features, options)
    contexts = _configure_contexts(trt, net.builder, config, features, profiles, options)
    tf32 = _configure_tf32(trt, config, options)
    if plan.fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    if plan.int8_flag:
        config.set_flag(trt.BuilderFlag.INT8)
    calibrator = _configure_calibrator(net, config, profiles, options, rt, onnx_path) if plan.calibrate else None
    _configure_optimization_level(config, features, options, warnings)
    _configure_compatibility(trt, config, features, options)
    if options.dla_core is not None:
        _configure_dla(net, config, options.dla_core, options.gpu_fallback, warnings)
    _configure_profiling_verbosity(trt, config, options)
    return _Configured(config, contexts, tf32, calibrator)


def _configure_workspace(trt: ModuleType, config: Any, features: Features, options: BuildOptions) -> None:
    if not options.workspace:
        return
    if features.memory_pool_limit:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace))
    elif features.max_workspace_size:
        config.max_workspace_size = int(options.workspace)


def _configure_calibrator(
    net: _Network, config: Any, profiles: list[Profile], options: BuildOptions, rt: Any, onnx_path: str
) -> Any:
    """Classic INT8: an entropy calibrator over our data (and cache), at one fixed calibration shape."""
    input_name = profiles[0].name
    samples = load_calibration_arrays(
        options.classic_int8_calibration,
        input_name,
        profiles[0].opt[1:],
        limit=options.calibration_limit,
        onnx_path=onnx_path,
    )
    calibrator = make_entropy_calibrator(
        net.trt,
        rt,
        samples,
        input_name=input_name,
        batch_size=options.calibration_batch_size,
        cache_path=options.calibration_cache,
    )
    config.int8_calibrator = calibrator
    if hasattr(config, "set_calibration_profile"):
        # Dynamic-shape networks calibrate at one fixed shape: the calibration batch.
        cal_profile = net.builder.create_optimization_profile()
        shape = (options.calibration_batch_size, *profiles[0].opt[1:])
        if not profiles[0].contains(shape):
            raise CalibrationError(
                f"calibration batch shape {list(shape)} is outside the profile ({profiles[0].describe()})",
                hint="use --calibration-batch-size within --min-batch/--max-batch",
            )
        cal_profile.set_shape(input_name, shape, shape, shape)
        config.set_calibration_profile(cal_profile)
    return calibrator


def _configure_optimization_level(config: Any, features: Features, options: BuildOptions, warnings: list[str]) -> None:
    if options.builder_optimization_level is None:
        return
    if features.optimization_level:
        config.builder_optimization_level = int(options.builder_optimization_level)
    else:
        warnings.append(f"TensorRT {features.version} has no builder optimization level; option ignored")


def _configure_compatibility(trt: ModuleType, config: Any, features: Features, options: BuildOptions) -> None:
    """Hardware compatibility level and version-compatible (lean runtime) engines."""
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


def _configure_dla(net: _Network, config: Any, core: int, gpu_fallback: bool, warnings: list[str]) -> None:
    """Place layers on DLA core ``core`` (GPU fallback on request)."""
    trt = net.trt
    num = getattr(net.builder, "num_DLA_cores", 0)
    if not num:
        raise InputError(
            f"DLA core {core} requested, but this device has no DLA (Jetson AGX/NX Orin, Xavier have one)"
        )
    if core >= num:
        raise InputError(f"DLA core {core} requested, this device has {num} (0..{num - 1})")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = int(core)
    if gpu_fallback:
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if net.plan.precision == "fp32" and not net.plan.fp16_flag:
        warnings.append("DLA runs only FP16/INT8 layers: an FP32 build places every layer on the GPU fallback")


def _configure_profiling_verbosity(trt: ModuleType, config: Any, options: BuildOptions) -> None:
    verbosity = {"detailed": "DETAILED", "layer_names_only": "LAYER_NAMES_ONLY", "none": "NONE"}[
        options.profiling_verbosity
    ]
    if hasattr(trt.ProfilingVerbosity, verbosity):
        config.profiling_verbosity = getattr(trt.ProfilingVerbosity, verbosity)


# -- stage: serialise ----------------------------------------------------------------------------


def _serialise(
    net: _Network, configured: _Configured, timing_cache: Any, onnx_path: str, warnings: list[str]
) -> bytes:
    """Build the serialized plan; the timing cache is read -> set -> (build) -> merged and written back."""
    config = configured.config
    if timing_cache is not None:
        timing_cache.attach(config)  # kept alive until the build ends
    net.logger.clear()
    try:
        serialized = net.builder.build_serialized_network(net.network, config)
    finally:  # the calibrator's device buffer, also when the build raises
        if configured.calibrator is not None:
            configured.calibrator.free()
    if serialized is None:
        errors = net.logger.errors()
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
    return plan_bytes


# -- stage: sidecar and write --------------------------------------------------------------------


def _sidecar(
    net: _Network,
    configured: _Configured,
    info: Any,
    profiles: list[Profile],
    options: BuildOptions,
    onnx_path: str,
    output: Path,
    plan_bytes: bytes,
    rt: Any,
    engine_io: list[dict[str, Any]],
    layers: Any,
    warnings: list[str],
) -> dict[str, Any]:
    """The engine's sidecar: hashes, machine, precision plan, profiles, I/O, how to rebuild it."""
    machine = sidecar_mod.probe_machine(net.trt, rt)
    if machine.jetson and machine.jetson.get("clocks_locked") is False:
        warnings.append("Jetson clocks are not locked (sudo jetson_clocks): tactic timing during the build varies")
    plan = net.plan
    return sidecar_mod.make_sidecar(
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
            "tf32": configured.tf32,
        },
        profiles=[p.to_dict() for p in profiles],
        io=engine_io,
        build_options=options.to_dict(),
        features=net.features.to_dict(),
        rebuild_command=rebuild_command(onnx_path, str(output), options),
        blocks=info.blocks,
        # Inlined calls need no function map: their layers are named <block>/<node>.
        functions={k: v for k, v in info.functions.items() if k in net.prepared.kept},
        prepared=net.prepared.to_dict(),
        contexts=configured.contexts,
        provenance=info.artifact.provenance,
        layers=layers,
    )


def _write(output: Path, plan_bytes: bytes, data: dict[str, Any], onnx_path: str | None = None) -> Path:
    """The engine, its sidecar and the ONNX's reference set (:mod:`edgeattn.data.reference_set`:
    validate checks the engine on it without PyTorch) land together or not at all; returns the
    sidecar's path."""
    from ..data.reference_set import reference_set_path

    recorded = reference_set_path(onnx_path) if onnx_path is not None else None
    with atomic_outputs() as outputs:
        outputs.write_bytes(output, plan_bytes)
        if recorded is not None and recorded.is_file():
            outputs.write_bytes(reference_set_path(output), recorded.read_bytes())
        return outputs.write_json(sidecar_path(output), data)


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
    engine = _deserialize(trt, logger, plan_bytes, features, options)
    if engine is None:
        return _onnx_io(info), None
    io = [_engine_tensor(trt, engine, engine.get_tensor_name(i)) for i in range(int(engine.num_io_tensors))]
    layers = _engine_layers(trt, engine)
    del engine
    return io, layers


def _deserialize(trt: ModuleType, logger: Any, plan_bytes: bytes, features: Features, options: BuildOptions) -> Any:
    """The engine from its plan, or None where this process cannot deserialize it."""
    try:
        runtime = trt.Runtime(logger)
        if options.version_compatible and features.engine_host_code_allowed:
            runtime.engine_host_code_allowed = True  # the plan embeds its lean runtime
        if options.dla_core is not None:
            runtime.DLA_core = int(options.dla_core)
        return runtime.deserialize_cuda_engine(plan_bytes)
    except Exception:
        return None


def _engine_tensor(trt: ModuleType, engine: Any, name: str) -> dict[str, Any]:
    mode = engine.get_tensor_mode(name)
    try:
        import numpy as np

        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
    except Exception:
        dtype = str(engine.get_tensor_dtype(name))
    return {
        "name": name,
        "mode": "input" if mode == trt.TensorIOMode.INPUT else "output",
        "dtype": dtype,
        "shape": [int(d) for d in engine.get_tensor_shape(name)],
    }


def _engine_layers(trt: ModuleType, engine: Any) -> Any:
    """The engine inspector's layer list (JSON), where this TensorRT has an inspector."""
    if not (hasattr(engine, "create_engine_inspector") and hasattr(trt, "LayerInformationFormat")):
        return None
    try:
        inspector = engine.create_engine_inspector()
        raw = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
        parsed = json.loads(raw) if raw else None
        return parsed.get("Layers") if isinstance(parsed, dict) else parsed
    except Exception:
        return None


def _onnx_io(info: Any) -> list[dict[str, Any]]:
    """I/O as the ONNX declares it (symbolic dimensions as -1)."""
    return [
        {"name": t.name, "mode": mode, "dtype": t.dtype, "shape": [d if isinstance(d, int) else -1 for d in t.shape]}
        for mode, tensors in (("input", info.inputs), ("output", info.outputs))
        for t in tensors
    ]
