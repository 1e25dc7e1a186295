"""A ``tensorrt`` module stand-in per API generation (8.5, 8.6, 10.3, 10.16, 11.0, 11.1).

It verifies API usage, not TensorRT's behaviour. The module carries exactly the enums (with
their per-generation integer values), classes, methods and properties listed for the generation
in ``api_surface.json``: anything else raises ``AttributeError`` (also on assignment, as pybind11
objects do). Methods are recorded in ``World.calls``. Their fake behaviour: the parser reads the
ONNX file's inputs/outputs/node names; the builder returns a JSON "plan" listing I/O and
profiles; the runtime refuses plans of another version; an execution context checks that input
shapes and tensor addresses were set, then queues a numpy "kernel" (output[b, j] = mean(input[b])
+ j) on the given stream; the profiler gets one report per ONNX node.
"""

from __future__ import annotations

import ctypes
import enum
import importlib.machinery
import json
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .world import ContractViolation, World

SURFACE = json.loads((Path(__file__).with_name("api_surface.json")).read_text())
GENERATIONS = ("8.5", "8.6", "10.3", "10.16", "11.0", "11.1")
PLAN_MAGIC = "edgeattn-standin-plan"
_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
       "UINT8": np.uint8, "INT64": np.int64}
_ONNX_TO_DT = {1: "FLOAT", 10: "HALF", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8", 16: "BF16"}


# Reductions whose 8.5/8.6 importer reads axes only from the attribute (8.6-GA
# builtin_op_importers.cpp; ReduceSum takes the input since opset 13).
_REDUCE_AXES_ATTRIBUTE_ONLY = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"}


def _round_to_tf32(x: np.ndarray) -> np.ndarray:
    """FP32 values rounded to TF32's 10-bit mantissa (round to nearest), as tensor cores read them.

    NvInfer.h, BuilderFlag::kTF32: "TF32 computes inner products by rounding the inputs to 10-bit
    mantissas before multiplying" (NVIDIA/TensorRT release/8.5, include/NvInfer.h).
    """
    if x.dtype != np.float32:
        return x
    bits = np.ascontiguousarray(x).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x1000) & ~np.uint64(0x1FFF)).astype(np.uint32)
    return rounded.view(np.float32)


def build_module(world: World, generation: str) -> types.ModuleType:
    surface = SURFACE["generations"][generation]
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    trt.__version__ = surface["version"]
    major = int(generation.split(".")[0])

    # -- enums (values differ by generation: STRONGLY_TYPED is 1 on 10.x, 0 on 11.x) -----------
    enums: dict[str, type] = {}
    for ename, members in surface["enums"].items():
        if ename == "Logger.Severity":
            continue
        cls = enum.IntEnum(ename.split(".")[-1], dict(members))
        enums[ename] = cls
        if "." not in ename:
            setattr(trt, ename, cls)
    severity = enums["ILogger.Severity"]

    def rec(name: str, *args: Any, **kwargs: Any) -> None:
        world.record(name, args, kwargs)

    # -- behaviours: "Class.method" -> implementation (installed only if the surface lists it) ---
    B: dict[str, Callable[..., Any]] = {}

    def behaviour(key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            B[key] = fn
            return fn

        return deco

    classes: dict[str, type] = {}

    def new(cls_name: str, **state: Any) -> Any:
        obj = object.__new__(classes[cls_name])
        object.__setattr__(obj, "_state", dict(state))
        object.__setattr__(obj, "_props", {})
        return obj

    # Logger / ILogger
    @behaviour("ILogger.__init__")
    def _ilogger_init(self: Any) -> None:
        object.__setattr__(self, "_props", {})

    @behaviour("Logger.__init__")
    def _logger_init(self: Any, min_severity: Any = None) -> None:
        object.__setattr__(self, "_props", {"min_severity": min_severity})
        object.__setattr__(self, "_state", {"messages": []})

    @behaviour("Logger.log")
    def _logger_log(self: Any, sev: Any, msg: str) -> None:
        self._state["messages"].append((sev, msg))

    def log(logger: Any, sev_name: str, msg: str) -> None:
        logger.log(getattr(severity, sev_name), msg)

    # Builder
    @behaviour("Builder.__init__")
    def _builder_init(self: Any, logger: Any) -> None:
        rec("Builder.__init__", logger)
        object.__setattr__(self, "_state", {"logger": logger})
        object.__setattr__(self, "_props", {"num_DLA_cores": world.num_dla_cores, "logger": logger})
        if world.device_count == 0:
            raise TypeError("pybind11::init(): factory function returned nullptr")

    @behaviour("Builder.create_network")
    def _create_network(self: Any, flags: int = 0) -> Any:
        rec("Builder.create_network", flags)
        ncf = trt.NetworkDefinitionCreationFlag
        known = 0
        for m in ncf:
            known |= 1 << int(m)
        if int(flags) & ~known:
            raise ContractViolation(f"create_network flags {flags:#x} set bits no NetworkDefinitionCreationFlag defines")
        return new("INetworkDefinition", flags=int(flags), parsed=False, inputs=[], outputs=[], nodes=[])

    @behaviour("Builder.create_builder_config")
    def _create_config(self: Any) -> Any:
        rec("Builder.create_builder_config")
        # TF32 is on by default on every generation we target: NvInfer.h, BuilderFlag::kTF32 "Enabled by
        # default" (NVIDIA/TensorRT release/8.5, include/NvInfer.h). docs/tensorrt.md, fact F2.
        defaults = {"TF32"} if hasattr(trt.BuilderFlag, "TF32") else set()
        # 8.6 preview features: the 0805 ones default on, PROFILE_SHARING_0806 off (NvInfer.h
        # release/8.6 PreviewFeature; docs/tensorrt.md F14).
        pf = getattr(trt, "PreviewFeature", None)
        preview = {m.name for m in pf if m.name.endswith("_0805")} if pf is not None else set()
        cfg = new("IBuilderConfig", flags=defaults, profiles=[], pools={}, timing_cache=None, created_caches=[],
                  preview=preview)
        return cfg

    @behaviour("Builder.create_optimization_profile")
    def _create_profile(self: Any) -> Any:
        rec("Builder.create_optimization_profile")
        return new("IOptimizationProfile", shapes={})

    @behaviour("Builder.build_serialized_network")
    def _build(self: Any, network: Any, config: Any) -> Any:
        rec("Builder.build_serialized_network", network, config)
        logger = self._state["logger"]
        net = network._state
        if not net["parsed"]:
            raise ContractViolation("build_serialized_network before the ONNX parser filled the network")
        if world.build_error:
            log(logger, "ERROR", world.build_error)
            return None
        dynamic = [i for i in net["inputs"] if any(d < 0 for d in i["shape"])]
        profiles = config._state["profiles"]
        if dynamic and not profiles:
            log(logger, "ERROR", "Network has dynamic or shape inputs, but no optimization profile has been defined.")
            return None
        for p in profiles:
            for i in dynamic:
                if i["name"] not in p._state["shapes"]:
                    log(logger, "ERROR", f"optimization profile is missing values for input {i['name']}")
                    return None
        flags = config._state["flags"]
        if "INT8" in flags and config._props.get("int8_calibrator") is not None:
            cal = config._props["int8_calibrator"]
            batch = cal.get_batch_size()
            cache = cal.read_calibration_cache()
            if not cache:
                names = [i["name"] for i in net["inputs"]]
                while True:
                    ptrs = cal.get_batch(names)
                    if ptrs is None:
                        break
                    if len(ptrs) != len(names):
                        raise ContractViolation("get_batch must return one device pointer per input")
                    for ptr in ptrs:
                        if int(ptr) not in world.memory:
                            raise ContractViolation("get_batch returned a pointer that is not device memory")
                cal.write_calibration_cache(b"standin-calibration-cache")
            net["calibrated_batch"] = batch
        if "STRONGLY_TYPED" in {m.name for m in trt.NetworkDefinitionCreationFlag if net["flags"] >> int(m) & 1}:
            for f in ("FP16", "INT8", "BF16"):
                if f in flags:
                    log(logger, "ERROR", f"BuilderFlag::k{f} cannot be set for a strongly typed network")
                    return None
        plan = {
            "magic": PLAN_MAGIC,
            "version": trt.__version__,
            "inputs": net["inputs"],
            "outputs": net["outputs"],
            "nodes": net["nodes"],
            "profiles": [
                {k: [list(v) for v in shp] for k, shp in p._state["shapes"].items()} for p in profiles
            ],
            "flags": sorted(flags),
            "network_flags": net["flags"],
            "misread_reductions": net.get("misread_reductions", []),
            "preview": sorted(config._state["preview"]),
        }
        tc = config._state["timing_cache"]
        if tc is not None:
            tc._state["entries"] += 1
        if world.during_build is not None:
            world.during_build()
        return new("IHostMemory", data=json.dumps(plan).encode())

    # INetworkDefinition
    @behaviour("INetworkDefinition.num_inputs")
    def _num_inputs(self: Any) -> int:
        return len(self._state["inputs"])

    # OnnxParser
    @behaviour("OnnxParser.__init__")
    def _parser_init(self: Any, network: Any, logger: Any) -> None:
        rec("OnnxParser.__init__", network, logger)
        object.__setattr__(self, "_state", {"network": network, "logger": logger, "errors": []})
        object.__setattr__(self, "_props", {})

    @behaviour("OnnxParser.parse_from_file")
    def _parse_from_file(self: Any, model: str) -> bool:
        rec("OnnxParser.parse_from_file", model)
        import onnx

        net = self._state["network"]._state
        if world.parser_errors:
            self._state["errors"] = [new("ParserError", **e) for e in world.parser_errors]
            return False
        m = onnx.load(model, load_external_data=False)
        inits = {i.name for i in m.graph.initializer}

        def desc(vi: Any) -> dict[str, Any]:
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
            return {"name": vi.name, "shape": shape, "dtype": _ONNX_TO_DT.get(tt.elem_type, "FLOAT")}

        net["inputs"] = [desc(v) for v in m.graph.input if v.name not in inits]
        net["outputs"] = [desc(v) for v in m.graph.output]
        opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
        plugins = set(world.plugins)
        if major < 9:
            # onnx-tensorrt 8.5-GA/8.6-GA ModelImporter.cpp: no local functions; an op without a
            # builtin importer goes to the plugin fallback and fails (docs/tensorrt.md F9).
            for k, n in enumerate(m.graph.node):
                if n.domain not in ("", "ai.onnx") and n.op_type not in plugins:
                    self._state["errors"] = [new("ParserError", code=8, node=k, desc=(
                        f"No importer registered for op: {n.op_type}. Attempting to import as plugin. "
                        "Plugin not found, are the plugin name, version, and namespace correct?"))]
                    return False
        # onnx-tensorrt 9.0-GA ModelImporter.cpp: local functions keyed by name alone, first wins
        # (domain and overload ignored) (F10).
        bodies: dict[str, Any] = {}
        for f in m.functions:
            bodies.setdefault(f.name, f)
        # ImporterContext.hpp generateUniqueName: one suffix counter shared by layer and tensor
        # names; a name is suffixed "_<counter>" only when already taken (F10).
        taken: dict[str, set[str]] = {"layer": set(), "tensor": set()}
        counter = [0]

        def unique(kind: str, name: str) -> str:
            candidate = name
            while candidate in taken[kind]:
                candidate = f"{name}_{counter[0]}"
                counter[0] += 1
            taken[kind].add(candidate)
            return candidate

        misread: list[str] = []

        def import_node(n: Any, index: int) -> list[str]:
            if major < 9 and opset >= 18 and n.op_type in _REDUCE_AXES_ATTRIBUTE_ONLY and len(n.input) > 1 and n.input[1]:
                # 8.5/8.6 reduceTensor() is called without the axes input: all axes reduced (F11).
                misread.append(n.name or n.op_type)
            fn = bodies.get(n.op_type) if n.domain not in ("", "ai.onnx") and n.op_type not in plugins else None
            if fn is None:
                layer = unique("layer", n.name or f"{n.op_type}_{index}")
                for out in n.output:
                    unique("tensor", out)
                return [layer]
            out_layers: list[str] = []
            for j, body in enumerate(fn.node):
                out_layers += import_node(body, j)
            return out_layers

        nodes = []
        for k, n in enumerate(m.graph.node):
            nodes += import_node(n, k)
        net["nodes"] = nodes
        net["misread_reductions"] = misread
        net["parsed"] = True
        return True

    @behaviour("OnnxParser.num_errors")
    def _num_errors(self: Any) -> int:
        return len(self._state["errors"])

    @behaviour("OnnxParser.get_error")
    def _get_error(self: Any, index: int) -> Any:
        rec("OnnxParser.get_error", index)
        return self._state["errors"][index]

    for attr in ("code", "desc", "node", "node_name", "node_operator", "local_function_stack"):
        def _getter(self: Any, _attr: str = attr) -> Any:
            return self._state.get(_attr, {"node": -1, "local_function_stack": []}.get(_attr, ""))

        B[f"ParserError.{attr}"] = _getter

    # IBuilderConfig
    @behaviour("IBuilderConfig.set_flag")
    def _set_flag(self: Any, flag: Any) -> None:
        rec("IBuilderConfig.set_flag", flag)
        if not isinstance(flag, trt.BuilderFlag):
            raise ContractViolation(f"set_flag needs a BuilderFlag member, got {flag!r}")
        self._state["flags"].add(flag.name)

    @behaviour("IBuilderConfig.set_preview_feature")
    def _set_preview(self: Any, feature: Any, enable: bool) -> None:
        rec("IBuilderConfig.set_preview_feature", feature, enable)
        if not isinstance(feature, trt.PreviewFeature):
            raise ContractViolation(f"set_preview_feature needs a PreviewFeature member, got {feature!r}")
        (self._state["preview"].add if enable else self._state["preview"].discard)(feature.name)

    @behaviour("IBuilderConfig.get_preview_feature")
    def _get_preview(self: Any, feature: Any) -> bool:
        return feature.name in self._state["preview"]

    @behaviour("IBuilderConfig.clear_flag")
    def _clear_flag(self: Any, flag: Any) -> None:
        rec("IBuilderConfig.clear_flag", flag)
        if not isinstance(flag, trt.BuilderFlag):
            raise ContractViolation(f"clear_flag needs a BuilderFlag member, got {flag!r}")
        self._state["flags"].discard(flag.name)

    @behaviour("IBuilderConfig.get_flag")
    def _get_flag(self: Any, flag: Any) -> bool:
        return flag.name in self._state["flags"]

    @behaviour("IBuilderConfig.set_memory_pool_limit")
    def _set_pool(self: Any, pool: Any, pool_size: int) -> None:
        rec("IBuilderConfig.set_memory_pool_limit", pool, pool_size)
        self._state["pools"][pool.name] = int(pool_size)

    @behaviour("IBuilderConfig.add_optimization_profile")
    def _add_profile(self: Any, profile: Any) -> int:
        rec("IBuilderConfig.add_optimization_profile", profile)
        if not profile._state["shapes"]:
            raise ContractViolation("add_optimization_profile with an empty profile")
        self._state["profiles"].append(profile)
        return len(self._state["profiles"]) - 1

    @behaviour("IBuilderConfig.set_calibration_profile")
    def _set_cal_profile(self: Any, profile: Any) -> bool:
        rec("IBuilderConfig.set_calibration_profile", profile)
        return True

    @behaviour("IBuilderConfig.create_timing_cache")
    def _create_tc(self: Any, serialized_timing_cache: bytes) -> Any:
        rec("IBuilderConfig.create_timing_cache", serialized_timing_cache)
        data = bytes(serialized_timing_cache)
        if data and not data.startswith(b"standin-timing-cache:"):
            # The binding returns the null pointer createTimingCache gives for an unreadable blob
            # as None (NvInfer.h IBuilderConfig::createTimingCache; docs/tensorrt.md F13).
            return None
        entries = int(data.split(b":")[1]) if data else 0
        cache = new("ITimingCache", entries=entries, source=data, owner=id(self))
        self._state["created_caches"].append(cache)
        return cache

    @behaviour("IBuilderConfig.set_timing_cache")
    def _set_tc(self: Any, cache: Any, ignore_mismatch: bool) -> bool:
        rec("IBuilderConfig.set_timing_cache", cache, ignore_mismatch)
        if cache is None:
            raise ContractViolation("set_timing_cache(None): create_timing_cache returned None and it was used anyway")
        # A timing cache "can be shared by multiple builder instances" (F13): no owner check.
        if world.timing_cache_mismatch and cache._state["source"] and not ignore_mismatch:
            return False
        self._state["timing_cache"] = cache
        return True

    @behaviour("IBuilderConfig.get_timing_cache")
    def _get_tc(self: Any) -> Any:
        rec("IBuilderConfig.get_timing_cache")
        return self._state["timing_cache"]

    @behaviour("IBuilderConfig.num_optimization_profiles")
    def _num_profiles(self: Any) -> int:
        return len(self._state["profiles"])

    @behaviour("ITimingCache.combine")
    def _tc_combine(self: Any, input_cache: Any, ignore_mismatch: bool) -> bool:
        rec("ITimingCache.combine", input_cache, ignore_mismatch)
        if world.timing_cache_mismatch and not ignore_mismatch:
            return False
        self._state["entries"] += input_cache._state["entries"]
        return True

    @behaviour("ITimingCache.serialize")
    def _tc_serialize(self: Any) -> Any:
        rec("ITimingCache.serialize")
        return new("IHostMemory", data=b"standin-timing-cache:%d" % self._state["entries"])

    # IOptimizationProfile
    @behaviour("IOptimizationProfile.set_shape")
    def _set_shape(self: Any, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002
        rec("IOptimizationProfile.set_shape", input, tuple(min), tuple(opt), tuple(max))
        lo, o, hi = tuple(min), tuple(opt), tuple(max)
        if not (len(lo) == len(o) == len(hi)) or any(not (a <= b <= c) for a, b, c in zip(lo, o, hi)):
            raise ContractViolation(f"set_shape needs min <= opt <= max, got {lo} {o} {hi}")
        self._state["shapes"][input] = (lo, o, hi)

    # IHostMemory
    @behaviour("IHostMemory.nbytes")
    def _nbytes(self: Any) -> int:
        return len(self._state["data"])

    # Runtime
    @behaviour("Runtime.__init__")
    def _runtime_init(self: Any, logger: Any) -> None:
        rec("Runtime.__init__", logger)
        object.__setattr__(self, "_state", {"logger": logger})
        object.__setattr__(self, "_props", {"engine_host_code_allowed": False, "DLA_core": -1})

    @behaviour("Runtime.load_runtime")
    def _load_runtime(self: Any, path: str) -> Any:
        # IRuntime::loadRuntime: the lean runtime library, or nullptr (NvInferRuntime.h release/10.3).
        rec("Runtime.load_runtime", path)
        if not str(path).rsplit("/", 1)[-1].startswith("libnvinfer_lean.so") or not world.lean_runtime_available:
            return None
        lean = classes["Runtime"](self._state["logger"])
        lean._state["lean"] = True
        return lean

    @behaviour("Runtime.deserialize_cuda_engine")
    def _deserialize(self: Any, serialized_engine: Any) -> Any:
        rec("Runtime.deserialize_cuda_engine")
        logger = self._state["logger"]
        try:
            plan = json.loads(bytes(serialized_engine))
            assert plan["magic"] == PLAN_MAGIC
        except Exception:
            log(logger, "ERROR", "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Magic tag does not match)")
            return None
        if "EXCLUDE_LEAN_RUNTIME" in plan["flags"] and not self._state.get("lean"):
            log(logger, "ERROR", "IRuntime::deserializeCudaEngine: plan was built with kEXCLUDE_LEAN_RUNTIME; "
                "load the lean runtime with IRuntime::loadRuntime")
            return None
        if plan["version"] != trt.__version__:
            log(
                logger,
                "ERROR",
                "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion "
                "stdVersionRead == kSERIALIZATION_VERSION failed.Version tag does not match.)",
            )
            return None
        return new("ICudaEngine", plan=plan)

    # ICudaEngine
    def _io(engine: Any) -> list[dict[str, Any]]:
        plan = engine._state["plan"]
        return [dict(d, mode="INPUT") for d in plan["inputs"]] + [dict(d, mode="OUTPUT") for d in plan["outputs"]]

    def _find(engine: Any, name: str) -> dict[str, Any]:
        for d in _io(engine):
            if d["name"] == name:
                return d
        raise ContractViolation(f"unknown tensor name {name!r}")

    B["ICudaEngine.num_io_tensors"] = lambda self: len(_io(self))
    B["ICudaEngine.num_layers"] = lambda self: len(self._state["plan"]["nodes"])
    B["ICudaEngine.num_optimization_profiles"] = lambda self: max(len(self._state["plan"]["profiles"]), 1)
    B["ICudaEngine.get_tensor_name"] = lambda self, index: _io(self)[index]["name"]
    B["ICudaEngine.get_tensor_mode"] = lambda self, name: getattr(trt.TensorIOMode, _find(self, name)["mode"])
    B["ICudaEngine.get_tensor_dtype"] = lambda self, name: getattr(trt.DataType, _find(self, name)["dtype"])
    B["ICudaEngine.get_tensor_shape"] = lambda self, name: tuple(_find(self, name)["shape"])

    @behaviour("ICudaEngine.get_tensor_profile_shape")
    def _profile_shape(self: Any, name: str, profile_index: int) -> list[tuple[int, ...]]:
        rec("ICudaEngine.get_tensor_profile_shape", name, profile_index)
        if _find(self, name)["mode"] != "INPUT":
            raise ContractViolation("get_tensor_profile_shape is for inputs only")
        profiles = self._state["plan"]["profiles"]
        if profiles and name in profiles[profile_index]:
            return [tuple(s) for s in profiles[profile_index][name]]
        shape = tuple(_find(self, name)["shape"])
        return [shape, shape, shape]

    def _shares_profiles(engine: Any) -> bool:
        # 9.0+: contexts share profiles; 8.6: only with PROFILE_SHARING_0806 set at build (F14).
        return major >= 9 or "PROFILE_SHARING_0806" in engine._state["plan"].get("preview", [])

    def _dynamic(engine: Any) -> bool:
        return any(d < 0 for i in engine._state["plan"]["inputs"] for d in i["shape"])

    @behaviour("ICudaEngine.create_execution_context")
    def _create_ctx(self: Any) -> Any:
        rec("ICudaEngine.create_execution_context")
        users = self._state.setdefault("profile_users", {})
        # 8.5: "The first execution context created will call setOptimizationProfile(0) implicitly.
        # For other execution contexts, setOptimizationProfile() must be called with unique profile
        # index" (NvInferRuntime.h release/8.5, createExecutionContext; F14).
        profile = 0 if (_shares_profiles(self) or not users.get(0) or not _dynamic(self)) else None
        if profile is not None:
            users[profile] = users.get(profile, 0) + 1
        return new("IExecutionContext", engine=self, shapes={}, addresses={}, profile=profile)

    @behaviour("IExecutionContext.set_optimization_profile_async")
    def _set_profile(self: Any, profile_index: int, stream_handle: int) -> bool:
        rec("IExecutionContext.set_optimization_profile_async", profile_index, stream_handle)
        engine = self._state["engine"]
        n = max(len(engine._state["plan"]["profiles"]), 1)
        if not 0 <= int(profile_index) < n:
            return False
        users = engine._state.setdefault("profile_users", {})
        current = self._state["profile"]
        if current == profile_index:
            return True
        if users.get(int(profile_index)) and not _shares_profiles(engine):
            return False  # in use by another context
        if current is not None:
            users[current] -= 1
        users[int(profile_index)] = users.get(int(profile_index), 0) + 1
        self._state["profile"] = int(profile_index)
        self._state["shapes"].clear()
        return True

    B["IExecutionContext.active_optimization_profile"] = lambda self: (
        -1 if self._state["profile"] is None else self._state["profile"])

    @behaviour("ICudaEngine.create_engine_inspector")
    def _create_inspector(self: Any) -> Any:
        return new("EngineInspector", engine=self)

    @behaviour("EngineInspector.get_engine_information")
    def _engine_info(self: Any, format: Any) -> str:  # noqa: A002
        rec("EngineInspector.get_engine_information", format)
        nodes = self._state["engine"]._state["plan"]["nodes"]
        if format == trt.LayerInformationFormat.JSON:
            return json.dumps({"Layers": [{"Name": n} for n in nodes]}) if world.inspector_layers else "{}"
        return "\n".join(nodes)

    # IExecutionContext
    @behaviour("IExecutionContext.set_input_shape")
    def _set_input_shape(self: Any, name: str, shape: Any) -> bool:
        rec("IExecutionContext.set_input_shape", name, tuple(shape))
        engine = self._state["engine"]
        if self._state["profile"] is None:
            raise ContractViolation(
                "set_input_shape on an execution context without an optimization profile: on TensorRT 8.5/8.6 "
                "only the first context gets profile 0 (F14)")
        lo, _, hi = _profile_shape(engine, name, self._state["profile"])
        shape = tuple(int(s) for s in shape)
        if len(shape) != len(lo) or any(not (a <= s <= b) for s, a, b in zip(shape, lo, hi)):
            return False
        self._state["shapes"][name] = shape
        return True

    @behaviour("IExecutionContext.get_tensor_shape")
    def _ctx_shape(self: Any, name: str) -> tuple[int, ...]:
        engine = self._state["engine"]
        d = _find(engine, name)
        if d["mode"] == "INPUT":
            return self._state["shapes"].get(name, tuple(d["shape"]))
        batch = None
        for inp in engine._state["plan"]["inputs"]:
            if inp["name"] in self._state["shapes"]:
                batch = self._state["shapes"][inp["name"]][0]
        return tuple((batch if batch is not None else -1) if s < 0 else s for s in d["shape"])

    @behaviour("IExecutionContext.set_tensor_address")
    def _set_address(self: Any, name: str, memory: int) -> bool:
        rec("IExecutionContext.set_tensor_address", name, memory)
        _find(self._state["engine"], name)
        if int(memory) not in world.memory:
            raise ContractViolation(f"set_tensor_address({name!r}) with a pointer that is not device memory")
        self._state["addresses"][name] = int(memory)
        return True

    @behaviour("IExecutionContext.execute_async_v3")
    def _execute(self: Any, stream_handle: int) -> bool:
        rec("IExecutionContext.execute_async_v3", stream_handle)
        if not isinstance(stream_handle, int):
            raise ContractViolation(f"execute_async_v3 takes an integer stream handle, got {type(stream_handle).__name__}")
        engine = self._state["engine"]
        plan = engine._state["plan"]
        logger = None
        for inp in plan["inputs"]:
            if inp["name"] not in self._state["shapes"] and any(d < 0 for d in inp["shape"]):
                raise ContractViolation(f"execute_async_v3 before set_input_shape({inp['name']!r})")
        for d in _io(engine):
            if d["name"] not in self._state["addresses"]:
                raise ContractViolation(f"execute_async_v3 before set_tensor_address({d['name']!r})")
        stream = world.streams.get(int(stream_handle))
        if stream is None:
            raise ContractViolation("execute_async_v3 on an unknown stream")
        if stream.capturing is not None and world.capture_unsupported:
            return False
        shapes = {i["name"]: self._state["shapes"].get(i["name"], tuple(i["shape"])) for i in plan["inputs"]}
        outs = {o["name"]: _ctx_shape(self, o["name"]) for o in plan["outputs"]}
        addresses = dict(self._state["addresses"])
        # TF32 tensor cores exist from compute capability 8.0 (Ampere, Orin SM 8.7).
        tf32 = "TF32" in plan["flags"] and tuple(world.compute_capability) >= (8, 0)

        def kernel() -> None:
            first = plan["inputs"][0]
            shape = shapes[first["name"]]
            src = np.ctypeslib.as_array(
                (ctypes.c_uint8 * (int(np.prod(shape)) * np.dtype(_NP[first["dtype"]]).itemsize)).from_address(
                    addresses[first["name"]]
                )
            ).view(_NP[first["dtype"]]).reshape(shape)
            if tf32:
                src = _round_to_tf32(src)
            means = src.reshape(shape[0], -1).astype(np.float64).mean(axis=1)
            for o in plan["outputs"]:
                oshape = outs[o["name"]]
                dt = np.dtype(_NP[o["dtype"]])
                dst = np.ctypeslib.as_array(
                    (ctypes.c_uint8 * (int(np.prod(oshape)) * dt.itemsize)).from_address(addresses[o["name"]])
                ).view(dt).reshape(oshape)
                cols = np.arange(int(np.prod(oshape[1:])), dtype=np.float64).reshape(oshape[1:])
                # A reduction over all axes instead of one still broadcasts: wrong values, no error.
                wrong = 100.0 * len(plan.get("misread_reductions") or [])
                dst[...] = (means.reshape((-1,) + (1,) * (len(oshape) - 1)) + cols + wrong).astype(dt)

        world.enqueue(int(stream_handle), kernel)
        profiler = self._props.get("profiler")
        if profiler is not None:
            for node in plan["nodes"]:
                profiler.report_layer_time(node, 0.5)
        del logger
        return True

    # IProfiler (subclassed by the code under test)
    @behaviour("IProfiler.__init__")
    def _profiler_init(self: Any) -> None:
        object.__setattr__(self, "_props", {})

    # Calibrators (subclassed by the code under test)
    for cal in ("IInt8Calibrator", "IInt8EntropyCalibrator2", "IInt8EntropyCalibrator", "IInt8MinMaxCalibrator",
                "IInt8LegacyCalibrator"):
        def _cal_init(self: Any) -> None:
            object.__setattr__(self, "_props", {})

        B[f"{cal}.__init__"] = _cal_init

    # -- classes ------------------------------------------------------------------------------
    for cname, spec in surface["classes"].items():
        classes[cname] = _make_class(world, cname, spec, B)
        setattr(trt, cname, classes[cname])
    if "ILogger" in classes:
        classes["ILogger"].Severity = severity
        for m in severity:  # export_values: ILogger.WARNING ...
            setattr(classes["ILogger"], m.name, m)
    if "Logger" in classes:
        # tensorrt/__init__.py: Logger.Severity = ILogger.Severity, members copied onto Logger.
        classes["Logger"].Severity = severity
        for m in severity:
            setattr(classes["Logger"], m.name, m)

    # -- module-level names -------------------------------------------------------------------
    dt = trt.DataType
    for attr, member in (("float32", "FLOAT"), ("float16", "HALF"), ("int8", "INT8"), ("int32", "INT32"),
                         ("bool", "BOOL"), ("uint8", "UINT8"), ("int64", "INT64"), ("bfloat16", "BF16"),
                         ("fp8", "FP8"), ("int4", "INT4"), ("fp4", "FP4"), ("e8m0", "E8M0")):
        if attr in surface["module"] and hasattr(dt, member):
            setattr(trt, attr, getattr(dt, member))

    def nptype(trt_type: Any) -> Any:
        if trt_type.name not in _NP:
            raise TypeError(f"could not resolve TensorRT datatype to an equivalent numpy datatype: {trt_type}")
        return _NP[trt_type.name]

    def volume(iterable: Any) -> int:
        return int(np.prod(list(iterable))) if len(list(iterable)) else 1

    registry_cls = classes.get("IPluginRegistry")

    def get_plugin_registry() -> Any:
        registry = object.__new__(registry_cls)
        creators = [types.SimpleNamespace(name=n, plugin_version="1", plugin_namespace="") for n in world.plugins]
        object.__setattr__(registry, "_props", {"all_creators": creators, "plugin_creator_list": creators})
        return registry

    for name, fn in (("nptype", nptype), ("volume", volume), ("get_plugin_registry", get_plugin_registry)):
        if name in surface["module"]:
            setattr(trt, name, fn)
    return trt


class _Strict:
    """Base of every stand-in class: unknown attributes raise AttributeError (get and set)."""

    _allowed_set: frozenset[str] = frozenset()
    _is_standin = True

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self)._is_standin_class(type(self)) and not name.startswith("_") and name not in self._allowed_set:
            raise AttributeError(f"'tensorrt.{type(self).__name__}' object has no writable attribute {name!r}")
        object.__setattr__(self, name, value)

    @staticmethod
    def _is_standin_class(cls: type) -> bool:
        return cls.__dict__.get("_standin_exact", False)


def _make_class(world: World, cname: str, spec: dict[str, Any], B: dict[str, Callable[..., Any]]) -> type:
    ns: dict[str, Any] = {"_standin_exact": True, "__module__": "tensorrt"}
    allowed = {p for p, access in spec["properties"].items() if access in ("rw", "wo")}
    ns["_allowed_set"] = frozenset(allowed)
    for method in spec["methods"]:
        if method in ("__del__", "__getitem__", "__len__", "__str__", "__repr__", "__nonzero__", "__bool__"):
            continue
        impl = B.get(f"{cname}.{method}")
        if method == "__init__":
            if not spec["constructible"]:
                continue
            if impl is None:
                def impl(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: F811
                    object.__setattr__(self, "_props", {})
                    object.__setattr__(self, "_state", {"args": args})
            ns["__init__"] = impl
            continue
        if impl is None:
            def impl(self: Any, *args: Any, _m: str = f"{cname}.{method}", **kwargs: Any) -> Any:  # noqa: F811
                world.record(_m, args, kwargs)
                return None

        ns[method] = impl
    for prop, access in spec["properties"].items():
        getter_impl = B.get(f"{cname}.{prop}")

        def fget(self: Any, _p: str = prop, _g: Any = getter_impl) -> Any:
            if _g is not None:
                return _g(self)
            return self.__dict__.get("_props", {}).get(_p)

        def fset(self: Any, value: Any, _p: str = prop, _c: str = cname) -> None:
            world.record(f"{_c}.{_p}=", (value,))
            self.__dict__.setdefault("_props", {})[_p] = value

        ns[prop] = property(fget if access != "wo" else None, fset if access in ("rw", "wo") else None)
    if cname == "IHostMemory":
        ns["__bytes__"] = lambda self: bytes(self._state["data"])  # the real one has the buffer protocol
    if not spec["constructible"]:
        def _no_init(self: Any, *a: Any, **k: Any) -> None:
            raise TypeError(f"tensorrt.{cname}: No constructor defined!")

        ns["__init__"] = _no_init
    cls = type(cname, (_Strict,), ns)
    return cls
