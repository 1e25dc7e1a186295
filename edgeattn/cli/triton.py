"""Write a Triton Inference Server model repository from .onnx models and TensorRT engines.

Each ARTIFACT becomes one model (named after its file, or --name): an .onnx is served by Triton's
onnxruntime backend, an .engine by its tensorrt backend, or either through edgeattn's own runner
with --triton-backend python. config.pbtxt comes from the artifact's metadata (tensor names, dtypes,
dims, batch range) with dynamic batching, instance groups and a warm-up sample, and is checked
with Triton's model_config.proto before anything is written. --with-preprocessing adds an
ensemble that takes encoded image bytes. An existing model gets a new version folder.

\b
Example:
  edgeattn triton repo/ m.onnx --triton-backend python --preferred-batch 4,8
"""

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from ._errors import echo_json
from ._options import InstanceKind, IntList, JsonOpt, ThreadsOpt, TritonBackend, max_batch_option, parse_int_list, value


def command(
    repository: Annotated[Path, typer.Argument(help="Model repository folder (created, or updated with new versions).", show_default=False, metavar="REPOSITORY")],
    artifacts: Annotated[List[Path], typer.Argument(help="Artifacts to serve (.onnx, .engine with its .json sidecar).", show_default=False, metavar="ARTIFACT")],
    name: Annotated[Optional[str], typer.Option("--name", help="Model name (one artifact).", show_default="the file's stem")] = None,
    triton_backend: Annotated[
        TritonBackend,
        typer.Option("--triton-backend", help="Triton backend that serves the model: auto (onnxruntime / tensorrt) or python (edgeattn's runner)."),
    ] = TritonBackend.auto,
    max_batch: Annotated[Optional[int], max_batch_option("the artifact's maximum")] = None,
    preferred_batch: Annotated[
        Optional[IntList],
        typer.Option("--preferred-batch", help="Dynamic batcher's preferred sizes, e.g. 4,8.", parser=parse_int_list, metavar="N[,N...]", show_default=False),
    ] = None,
    queue_delay_us: Annotated[int, typer.Option("--queue-delay-us", min=0, help="Longest a request waits for a batch to form.")] = 500,
    dynamic_batching: Annotated[bool, typer.Option("--dynamic-batching/--no-dynamic-batching", help="Let Triton merge requests into batches.")] = True,
    instances: Annotated[int, typer.Option("--instances", min=1, help="Model instances (instance_group count).")] = 1,
    kind: Annotated[InstanceKind, typer.Option("--kind", help="Where the instances run: auto (GPU for engines, else CPU), cpu or gpu.")] = InstanceKind.auto,
    model_version: Annotated[Optional[int], typer.Option("--model-version", min=1, help="Version folder to write.", show_default="one past the newest")] = None,
    with_preprocessing: Annotated[bool, typer.Option("--with-preprocessing", help="Add NAME_preprocess and NAME_ensemble (image bytes in).")] = False,
    ort_tensorrt: Annotated[bool, typer.Option("--ort-tensorrt", help="onnxruntime backend: TensorRT accelerator at the artifact's precision (--kind gpu).")] = False,
    model_warmup: Annotated[bool, typer.Option("--model-warmup/--no-model-warmup", help="A random warm-up sample in config.pbtxt (model_warmup).")] = True,
    threads: ThreadsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    from ..serving import RepositoryOptions, write_repository

    options = RepositoryOptions(
        name=name,
        backend=value(triton_backend),
        max_batch=max_batch,
        dynamic_batching=dynamic_batching,
        preferred_batch=tuple(preferred_batch or ()),
        queue_delay_us=queue_delay_us,
        instances=instances,
        kind=value(kind),
        version=model_version,
        with_preprocessing=with_preprocessing,
        ort_tensorrt=ort_tensorrt,
        threads=threads,
        warmup=model_warmup,
    )
    result = write_repository(repository, artifacts, options)
    if json_output:
        echo_json(result.to_dict())
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True, highlight=False)
    for model in result.models:
        source = f" <- {escape(model.artifact)}" if model.artifact else ""
        console.print(f"{model.role:<10} {escape(model.name)}/{model.version}{source}")
    console.print(f"wrote {escape(str(result.repository))} ({len(result.models)} model(s))")
