"""Option aliases shared by several commands (Typer ``Annotated`` style)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelArg = Annotated[
    str,
    typer.Argument(
        help="Model: registry name (se_resnet50), timm:NAME, torchvision:NAME, path/file.py:factory, "
        "package.module:factory, or a TorchScript archive (.pt/.ts).",
        show_default=False,
    ),
]
CheckpointOpt = Annotated[
    Optional[Path],
    typer.Option("--checkpoint", "-c", help="Checkpoint to load (.pt/.pth/.safetensors).", show_default=False),
]
UnsafePickleOpt = Annotated[
    bool,
    typer.Option(
        "--unsafe-pickle",
        help="Allow unpickling arbitrary Python objects from the checkpoint (runs code from the file: "
        "only for files you trust).",
    ),
]
NonStrictOpt = Annotated[
    bool, typer.Option("--non-strict", help="Load a checkpoint that does not cover every model weight.")
]
NoEmaOpt = Annotated[
    bool, typer.Option("--no-ema", help="Use the raw weights even when the checkpoint holds EMA weights.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Where to write the artifact.")]
ThreadsOpt = Annotated[
    Optional[int], typer.Option("--threads", help="CPU threads for the runtime (default: all cores).", min=1)
]
