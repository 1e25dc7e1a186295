"""``edgeattn inspect model.onnx``: what an exported artifact holds, read without PyTorch.

Inputs and outputs, opset, folded attention blocks (``edgeattn::`` function nodes and the
recorded blocks), the precision of each op kind (ops fed by Q/DQ pairs run in INT8; FP16
tensors), the recorded preprocessing and provenance (read by :class:`edgeattn.artifact.ArtifactInfo`).
"""

import os
from collections import Counter
from pathlib import Path
from typing import Any, Counter as CounterType, Dict, List, Union

from ..errors import InputError
from ..graph import DOMAIN, PRECISIONS

ARTIFACT_SUFFIXES = (".onnx",)


def is_artifact(source: str) -> bool:
    """An existing ``.onnx`` file (not a model source to build in PyTorch)."""
    return Path(source).suffix.lower() in ARTIFACT_SUFFIXES and Path(source).is_file()


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
    """Everything ``edgeattn inspect ARTIFACT.onnx`` prints, as a JSON-ready dict."""
    import onnx

    from ..artifact import ArtifactInfo

    src = Path(path)
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


def print_artifact(data: Dict[str, Any]) -> None:
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
