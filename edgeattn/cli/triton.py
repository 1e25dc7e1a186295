"""Write a Triton Inference Server model repository from .onnx models and TensorRT engines.

Each ARTIFACT becomes one model (named after its file, or --name): an .onnx is served by Triton's
onnxruntime backend, an .engine by its tensorrt backend, or either through edgeattn's own runner
with --backend python. config.pbtxt comes from the artifact's metadata (tensor names, dtypes,
dims, batch range) with dynamic batching, instance groups and a warm-up sample, and is checked
with Triton's model_config.proto before anything is written. --with-preprocessing adds an
ensemble that takes encoded image bytes. An existing model gets a new version folder.

Example: edgeattn triton models/ digits.onnx --backend python --preferred-batch 4,8 --with-preprocessing
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._errors import echo_json
from ._options import JsonOpt, ThreadsOpt


def parse_batch_sizes(value: str | None) -> tuple[int, ...]:
    """``"4,8"`` -> (4, 8); a non-integer is an InputError naming the value."""
    from ..errors import InputError

    if not value:
        return ()
    sizes = []
    for part in value.split(","):
        try:
            sizes.append(int(part))
        except ValueError:
            raise InputError(f"--preferred-batch: received {value!r}, expected comma-separated integers like 4,8") from None
    return tuple(sizes)


def command(
    repository: Annotated[Path, typer.Argument(help="Model repository folder (created, or updated with new versions).", show_default=False)],
    artifacts: Annotated[list[Path], typer.Argument(help="Artifacts to serve (.onnx, .engine with its .json sidecar).", show_default=False)],
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Model name (one artifact) [default: the file's stem].", show_default=False)] = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="auto (onnxruntime / tensorrt backend) or python (edgeattn's runner).")] = "auto",
    max_batch: Annotated[Optional[int], typer.Option("--max-batch", min=1, help="max_batch_size [default: the artifact's maximum].", show_default=False)] = None,
    preferred_batch: Annotated[Optional[str], typer.Option("--preferred-batch", help="Dynamic batcher's preferred sizes, e.g. 4,8.", show_default=False)] = None,
    queue_delay_us: Annotated[int, typer.Option("--queue-delay-us", min=0, help="Longest a request waits for a batch to form.")] = 500,
    dynamic_batching: Annotated[bool, typer.Option("--dynamic-batching/--no-dynamic-batching", help="Let Triton merge requests into batches.")] = True,
    instances: Annotated[int, typer.Option("--instances", min=1, help="Model instances (instance_group count).")] = 1,
    kind: Annotated[str, typer.Option("--kind", help="auto (GPU for engines, else CPU), cpu or gpu.")] = "auto",
    version: Annotated[Optional[int], typer.Option("--version", min=1, help="Version folder [default: one past the newest].", show_default=False)] = None,
    with_preprocessing: Annotated[bool, typer.Option("--with-preprocessing", help="Add NAME_preprocess and NAME_ensemble (image bytes in).")] = False,
    ort_tensorrt: Annotated[bool, typer.Option("--ort-tensorrt", help="onnxruntime backend: TensorRT accelerator at the artifact's precision (--kind gpu).")] = False,
    warmup: Annotated[bool, typer.Option("--warmup/--no-warmup", help="A random warm-up sample in config.pbtxt.")] = True,
    threads: ThreadsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    from ..serving import RepositoryOptions, write_repository

    options = RepositoryOptions(
        name=name,
        backend=backend,
        max_batch=max_batch,
        dynamic_batching=dynamic_batching,
        preferred_batch=parse_batch_sizes(preferred_batch),
        queue_delay_us=queue_delay_us,
        instances=instances,
        kind=kind,
        version=version,
        with_preprocessing=with_preprocessing,
        ort_tensorrt=ort_tensorrt,
        threads=threads,
        warmup=warmup,
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
