"""``edgeattn inspect model.onnx`` / ``model.engine``: what an artifact holds, read without PyTorch.

ONNX: inputs and outputs, opset, folded attention blocks (``edgeattn::`` function nodes and the
recorded blocks), the precision of each op kind (ops fed by Q/DQ pairs run in INT8; FP16
tensors), the recorded preprocessing and provenance (read by :class:`edgeattn.artifact.ArtifactInfo`).
Engine: its sidecar (a plan cannot be read without TensorRT and a GPU): precision, I/O and
profiles, where it may run (TensorRT version, GPU compute capability, platform, compatibility
options), the attention blocks, preprocessing, provenance, and whether the engine file is the
one the sidecar describes (sha256).
"""

import os
from collections import Counter
from pathlib import Path
from typing import Any, Counter as CounterType, Dict, List, Union

from ..errors import InputError
from ..graph import DOMAIN, PRECISIONS

ONNX_SUFFIXES = (".onnx",)


def is_artifact(source: str) -> bool:
    """An existing ``.onnx`` file or engine (not a model source to build in PyTorch)."""
    from ..artifact import ENGINE_SUFFIXES

    return Path(source).suffix.lower() in (*ONNX_SUFFIXES, *ENGINE_SUFFIXES) and Path(source).is_file()


def _dims(value_info: Any) -> List[Any]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in shape.dim]


def _precision_by_op(proto: Any) -> Dict[str, Dict[str, int]]:
    """{op_type: {precision: count}}: int8 when an input comes from DequantizeLinear, fp16 when an
    input or output tensor is FLOAT16, else fp32 (for the float ops; Q/DQ themselves are left out).
    A folded ``edgeattn::`` block computes in its function body: int8 only when the body holds Q/DQ."""
    import onnx

    graph = proto.graph
    quantized_functions = {(f.domain, f.name) for f in proto.functions if any(n.op_type == "DequantizeLinear" for n in f.node)}
    dq_outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    fp16 = {v.name for v in list(graph.value_info) + list(graph.input) + list(graph.output)
            if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16}
    fp16 |= {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT16}
    counts: Dict[str, CounterType[str]] = {}
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "Constant", "Cast"):
            continue
        if node.domain.startswith(DOMAIN):
            precision = "int8" if (node.domain, node.op_type) in quantized_functions else (
                "fp16" if any(t in fp16 for t in list(node.input) + list(node.output)) else "fp32")
        elif any(i in dq_outputs for i in node.input):
            precision = "int8"
        elif any(t in fp16 for t in list(node.input) + list(node.output)):
            precision = "fp16"
        else:
            precision = "fp32"
        counts.setdefault(node.op_type, Counter())[precision] += 1
    return {op: dict(c) for op, c in sorted(counts.items())}


def inspect_artifact(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Everything ``edgeattn inspect ARTIFACT`` prints, as a JSON-ready dict."""
    import onnx

    from ..artifact import ENGINE_SUFFIXES, ArtifactInfo

    src = Path(path)
    if src.suffix.lower() in ENGINE_SUFFIXES:
        return inspect_engine(src)
    try:
        proto = onnx.load(os.fspath(src), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for a file that is not ONNX
        raise InputError(f"cannot read {src} as ONNX: {exc}", hint="pass an .onnx file written by an exporter") from exc
    info = ArtifactInfo.from_proto(proto)
    provenance = info.provenance
    initializers = {i.name for i in proto.graph.initializer}
    custom = Counter(f"{n.domain}::{n.op_type}" for n in proto.graph.node if n.domain.startswith(DOMAIN))
    return {
        "artifact": os.fspath(src),
        "format": "onnx",
        "opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "precision": info.precision or "fp32",
        "inputs": [{"name": i.name, "shape": _dims(i), "dtype": onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type).name}
                   for i in proto.graph.input if i.name not in initializers],
        "outputs": [{"name": o.name, "shape": _dims(o), "dtype": onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type).name}
                    for o in proto.graph.output],
        "nodes": len(proto.graph.node),
        "folded_blocks": dict(custom),
        "blocks": info.blocks,
        "precision_by_op": _precision_by_op(proto),
        "preprocessing": info.preprocessing.to_dict() if info.preprocessing is not None else None,
        "provenance": {k: v for k, v in (provenance or {}).items() if k != "preprocessing"} or None,
    }


def inspect_engine(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """An engine's record, from its sidecar ``<engine>.json`` (no TensorRT needed)."""
    from .._io import sha256_file, sidecar_path
    from ..artifact import ArtifactInfo, read_engine_sidecar

    src = Path(path)
    data = read_engine_sidecar(src)
    if data is None:
        raise InputError(
            f"{src} has no sidecar {sidecar_path(src).name}; an engine's record is its sidecar (a plan "
            "is opaque without TensorRT)",
            hint="keep the .json that edgeattn build writes beside the engine",
        )
    info = ArtifactInfo.from_engine_sidecar(data, src)
    recorded_sha = (data.get("engine") or {}).get("sha256")
    return {
        "artifact": os.fspath(src),
        "format": "tensorrt-engine",
        "precision": info.precision,
        "precision_plan": data.get("precision_plan"),
        "engine_matches_sidecar": sha256_file(src) == recorded_sha if recorded_sha else None,
        "built_for": {
            "tensorrt": (data.get("tensorrt") or {}).get("version"),
            "gpu": data.get("gpu"),
            "platform": data.get("platform"),
            "cuda": data.get("cuda"),
            "compatibility": data.get("compatibility"),
        },
        "io": data.get("io") or [],
        "profiles": data.get("profiles") or [],
        "blocks": info.blocks,
        "source_onnx": data.get("source_onnx"),
        "rebuild_command": data.get("rebuild_command"),
        "preprocessing": info.preprocessing.to_dict() if info.preprocessing is not None else None,
        "provenance": {k: v for k, v in (info.provenance or {}).items() if k != "preprocessing"} or None,
    }


def print_engine(data: Dict[str, Any]) -> None:
    from rich.markup import escape

    from ._errors import report_console

    console = report_console()
    built = data["built_for"]
    gpu = built.get("gpu") or {}
    platform = built.get("platform") or {}
    match = {True: "matches its sidecar", False: "DIFFERS from its sidecar's sha256", None: "no sha256 recorded"}
    console.print(f"[bold]{escape(data['artifact'])}[/]  (TensorRT engine, {data['precision']}, "
                  f"{match[data['engine_matches_sidecar']]})")
    console.print(f"  built for  TensorRT {escape(str(built.get('tensorrt')))}, {escape(str(gpu.get('name')))} "
                  f"(compute capability {escape(str(gpu.get('compute_capability')))}), "
                  f"{escape(str(platform.get('system')))} {escape(str(platform.get('machine')))}")
    compat = built.get("compatibility") or {}
    console.print(f"  compatibility  hardware {escape(str(compat.get('hardware')))}, "
                  f"version-compatible {compat.get('version_compatible')}")
    for tensor in data["io"]:
        console.print(f"  {escape(str(tensor.get('mode', 'tensor'))).lower():<7} {escape(str(tensor.get('name')))} "
                      f"{escape(str(tensor.get('dtype')))}{escape(str(tensor.get('shape')))}")
    for profile in data["profiles"]:
        console.print(f"  profile  {escape(str(profile))}")
    console.print(f"  blocks  {len(data['blocks'] or [])} attention block(s) recorded")
    pre = data["preprocessing"]
    if pre:
        console.print(f"  preprocessing  {escape(str({k: pre.get(k) for k in ('input_size', 'mean', 'std', 'interpolation', 'crop_pct', 'in_graph') if k in pre}))}")
    source = data.get("source_onnx") or {}
    console.print(f"  built from  {escape(str(source.get('path')))}")
    if data.get("rebuild_command"):
        console.print(f"  rebuild  {escape(data['rebuild_command'])}")


def print_artifact(data: Dict[str, Any]) -> None:
    if data.get("format") == "tensorrt-engine":
        print_engine(data)
        return
    from rich.markup import escape
    from rich.table import Table

    from ._errors import report_console

    console = report_console()
    console.print(f"[bold]{escape(data['artifact'])}[/]  (ONNX, {data['precision']}, {data['nodes']} nodes, "
                  f"opset {', '.join(f'{k} {v}' for k, v in data['opset'].items())})")
    for kind in ("inputs", "outputs"):
        for t in data[kind]:
            console.print(f"  {kind[:-1]:<7} {escape(t['name'])} {t['dtype']}" + escape(f"[{', '.join(map(str, t['shape']))}]"))
    folded = ", ".join(f"{n} {k}" for k, n in data["folded_blocks"].items()) or "none"
    console.print(f"  folded  {escape(folded)}")
    pre = data["preprocessing"]
    if pre:
        console.print(f"  preprocessing  {escape(str({k: pre.get(k) for k in ('input_size', 'mean', 'std', 'interpolation', 'crop_pct') if k in pre}))}")
    prov = data["provenance"]
    folded_from = prov.get("folded_from") if prov else None
    if isinstance(folded_from, dict) and not prov.get("source"):  # edgeattn fold of another exporter's ONNX
        sha = str(folded_from.get("sha256") or "")[:12]
        console.print(f"  folded from  {escape(str(folded_from.get('path')))} (sha256 {escape(sha)}..., "
                      f"{escape(str(folded_from.get('producer')))}) by edgeattn fold {escape(str(prov.get('edgeattn_version')))}")
    elif prov:
        ck = prov.get("checkpoint") or {}
        console.print(f"  exported from  {escape(str(prov.get('source')))}" + (f", checkpoint {escape(str(ck.get('path')))}" if ck else "")
                      + f" ({escape(str(prov.get('exporter')))}, edgeattn {escape(str(prov.get('edgeattn_version')))})")
    table = Table(show_edge=False, pad_edge=False, title="precision by op kind")
    table.add_column("op")
    for p in PRECISIONS:
        table.add_column(p, justify="right")
    for op, counts in data["precision_by_op"].items():
        table.add_row(op, *(str(counts.get(p, "")) for p in PRECISIONS))
    console.print(table)
