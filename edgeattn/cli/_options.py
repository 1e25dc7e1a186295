"""The CLI's one vocabulary: every flag that several commands take is defined here, once.

One flag name has one meaning, one help text and one parser in every command that takes it
(``tests/cli/test_vocabulary.py`` checks it): ``-n`` is always ``--num-samples``, ``-b`` always
the runtime backend, ``--input-size`` always the per-sample ``C,H,W`` (the ``input_size`` of
timm's ``pretrained_cfg`` and of the artifact's preprocessing; the batch is a separate option).
A value that does not parse (an unknown choice, a malformed shape) is a usage error: Click's
usage message and exit 2 (docs/reliability.md).

Spellings that scripts may hold from earlier releases are translated by :class:`Command` before
Click parses (a one-line deprecation warning), unless the old name now means something else in
another command; then it is refused with a pointer to the new name (:data:`RENAMED`).

Typer evaluates these annotations at runtime, and the runtime side runs on Python 3.8 (JetPack
5.1): no postponed annotations here, ``typing.Optional``/``List`` and
``typing_extensions.Annotated`` only.
"""

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Type, cast

import typer
from typer.core import TyperCommand
from typing_extensions import Annotated

if TYPE_CHECKING:
    import click

# Click's UsageError, from the Click that this Typer runs on (a vendored copy in newer Typer): a
# real ``click.UsageError`` would not be recognised by a Typer that vendors its own.
UsageError = cast(  # typed as Click's: the vendored copy is the same class
    "Type[click.UsageError]", next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
)


# --- choices (an Enum is Typer's portable Choice: an unknown value exits 2 with the list) --------


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


class Fold(str, Enum):
    functions = "functions"
    inline = "inline"
    none = "none"


class OptimizeFor(str, Enum):
    any = "any"
    ort_cpu = "ort-cpu"


class InputLayout(str, Enum):
    nchw = "nchw"
    nhwc = "nhwc"


class QuantizeTarget(str, Enum):
    ort_cpu = "ort-cpu"
    tensorrt = "tensorrt"


class CalibrationMethod(str, Enum):
    minmax = "minmax"
    entropy = "entropy"
    percentile = "percentile"


class Attention(str, Enum):
    se = "se"
    cbam = "cbam"
    none = "none"


class HardwareCompatibility(str, Enum):
    none = "none"
    ampere_plus = "ampere_plus"
    same_compute_capability = "same_compute_capability"


class TritonBackend(str, Enum):
    auto = "auto"
    python = "python"


class InstanceKind(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


def value(choice: Any) -> Any:
    """The plain string of an Enum choice (the library takes strings); None and others as given."""
    return choice.value if isinstance(choice, Enum) else choice


# --- parsers ------------------------------------------------------------------------------------


class InputSize(NamedTuple):
    """One sample's ``C,H,W`` (no batch: the batch is ``--batch-size`` / ``--batch-sizes``)."""

    channels: int
    height: int
    width: int


def _dims(text: str, separators: str = ",x") -> List[int]:
    """``"3,224,224"``, ``"3x224x224"``, ``"3, 224, 224"`` -> [3, 224, 224]; ValueError otherwise."""
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return [int(part) for part in text.split(separators[0]) if part.strip()]


def parse_input_size(text: str) -> InputSize:
    """The one shape parser of the CLI: ``C,H,W`` (or ``CxHxW``), three positive integers."""
    if isinstance(text, InputSize):  # Click converts a value once more when it is a default
        return text
    try:
        dims = _dims(text)
    except ValueError:
        dims = []
    if len(dims) != 3 or min(dims) < 1:
        raise typer.BadParameter(f"received {text!r}, expected C,H,W: three positive integers (e.g. 3,224,224)")
    return InputSize(*dims)


class IntList(tuple):
    """Positive integers given as ``1,8,32`` (a tuple subclass, so Typer takes it as one value)."""


def parse_int_list(text: str) -> IntList:
    if isinstance(text, IntList):
        return text
    try:
        values = _dims(text, ",")
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise typer.BadParameter(f"received {text!r}, expected comma-separated positive integers (e.g. 1,8)")
    return IntList(values)


# The runtime backends' names and aliases, as runtime/selection.py registers them (BACKENDS,
# ALIASES); written out here so that `edgeattn --help` does not import the runtime (numpy) and
# checked against the registry by tests/cli/test_vocabulary.py. A plug-in registered with
# register_backend() is accepted too: the parser asks the registry.
BACKEND_NAMES = ("auto", "onnxruntime", "tensorrt", "openvino", "torch")
BACKEND_ALIASES = {"ort": "onnxruntime", "trt": "tensorrt", "ov": "openvino", "pytorch": "torch"}


class Backends(tuple):
    """Canonical backend names, in the order given."""


def parse_backends(text: str) -> Backends:
    """``"ort, OV"`` -> ("onnxruntime", "openvino"): names or aliases, comma-separated."""
    if isinstance(text, Backends):
        return text
    names = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        name = BACKEND_ALIASES.get(part, part)
        if name not in BACKEND_NAMES:
            # Not a built-in name: perhaps a plug-in added with register_backend().
            from ..runtime.selection import ALIASES, BACKENDS

            name = ALIASES.get(part, part)
            if name not in BACKENDS:
                known = ", ".join(["auto", *BACKENDS, *(f"{a} ({n})" for a, n in ALIASES.items())])
                raise typer.BadParameter(f"received {part!r}, expected one of: {known}")
        names.append(name)
    if not names:
        raise typer.BadParameter(f"received {text!r}, expected a backend name")
    return Backends(names)


def one_backend(backends: Backends) -> Backends:
    """Callback of a command that runs every artifact on one backend (validate)."""
    if len(backends) > 1:
        raise typer.BadParameter(f"received {', '.join(backends)}, expected one backend (bench compares several)")
    return backends


def complete_backends(incomplete: str) -> List[str]:
    """Shell completion of ``--backend``: the names after the last comma."""
    head, _, tail = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    return [prefix + name for name in (*BACKEND_NAMES, *BACKEND_ALIASES) if name.startswith(tail.lower())]


# --- the shared options -------------------------------------------------------------------------
# Help texts say what the flag means in every command; a command's own default goes in
# show_default, its own details in its docstring.

ModelArg = Annotated[
    str,
    typer.Argument(
        help="Model: registry name (se_resnet50), timm:NAME, torchvision:NAME, path/file.py:factory, "
        "package.module:factory, or a TorchScript archive (.pt/.ts).",
        show_default=False,
        metavar="MODEL",
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

OUTPUT_HELP = "Where to write the artifact."
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help=OUTPUT_HELP, show_default=False)]


def output_option(default_text: str) -> Any:
    """``--output`` where the command has a default (build: the ONNX path with ``.engine``)."""
    return typer.Option("--output", "-o", help=OUTPUT_HELP, show_default=default_text)


FoldOpt = Annotated[
    Fold,
    typer.Option("--fold", help="functions (edgeattn:: nodes), inline (same canonical ops, no functions), none (raw)."),
]
OptimizeForOpt = Annotated[
    OptimizeFor,
    typer.Option(
        "--optimize-for",
        help="any (portable attention bodies) or ort-cpu (bodies that keep ONNX Runtime's blocked CPU layout).",
    ),
]
NoCheckOpt = Annotated[
    bool,
    typer.Option(
        "--no-check",
        help="Skip the ONNX Runtime check of the written model against its source (export: PyTorch; fold: the input ONNX).",
    ),
]

ThreadsOpt = Annotated[
    Optional[int],
    typer.Option("--threads", help="CPU threads for the runtime.", min=1, show_default="all cores"),
]
ProvidersOpt = Annotated[
    Optional[str],
    typer.Option(
        "--providers",
        help="ONNX Runtime execution providers, e.g. tensorrt,cuda (CPU is always the fallback).",
        show_default=False,
    ),
]
ReportJsonOpt = Annotated[
    Optional[Path], typer.Option("--report-json", help="Also write the report as JSON to this file.", show_default=False)
]
ReportMdOpt = Annotated[
    Optional[Path], typer.Option("--report-md", help="Also write the report as Markdown to this file.", show_default=False)
]
InputsOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--inputs",
        "-i",
        help="Real input data: an image folder (flat or one sub-folder per class), .npy or .npz.",
        show_default=False,
    ),
]
NumSamplesOpt = Annotated[
    Optional[int],
    typer.Option(
        "--num-samples",
        "-n",
        help="Samples to run.",
        min=1,
        show_default="8 random, or every --inputs sample",
    ),
]

BACKEND_HELP = (
    "Runtime backend: auto, onnxruntime (ort), tensorrt (trt), openvino (ov) or torch (pytorch); "
    "several comma-separated where a command compares them (bench)."
)


def backend_option(callback: Optional[Callable[..., Any]] = None) -> Any:
    return typer.Option(
        "--backend",
        "-b",
        help=BACKEND_HELP,
        parser=parse_backends,
        metavar="BACKEND[,BACKEND...]",
        autocompletion=complete_backends,
        callback=callback,
    )


PRECISION_HELP = (
    "Precision of the artifact: what quantize converts to, build builds and validate judges by "
    "(its tolerances)."
)


def precision_option(show_default: Any, callback: Optional[Callable[..., Any]] = None) -> Any:
    return typer.Option("--precision", "-p", help=PRECISION_HELP, show_default=show_default, callback=callback)


def low_precision_only(precision: Optional[Precision]) -> Optional[Precision]:
    """Callback of quantize's ``--precision``: FP32 is what it starts from."""
    if precision is Precision.fp32:
        raise typer.BadParameter("received 'fp32', expected fp16 or int8 (the model is already FP32)")
    return precision


InputSizeOpt = Annotated[
    Optional[InputSize],
    typer.Option(
        "--input-size",
        help="One sample's size C,H,W (e.g. 3,224,224).",
        parser=parse_input_size,
        metavar="C,H,W",
        show_default="the model's input size",
    ),
]

MAX_BATCH_HELP = "Largest batch the artifact accepts."


def max_batch_option(show_default: Any) -> Any:
    return typer.Option("--max-batch", min=1, help=MAX_BATCH_HELP, show_default=show_default)


BATCH_SIZE_HELP = "Samples per inference."


def batch_size_option(show_default: Any = True) -> Any:
    return typer.Option("--batch-size", min=1, help=BATCH_SIZE_HELP, show_default=show_default)


# --- old spellings ------------------------------------------------------------------------------


class Renamed(NamedTuple):
    """An old spelling of a flag in one command.

    ``rewrite`` given: it still works, rewritten (``value`` -> new arguments) with a one-line
    deprecation warning. ``rewrite`` None: refused with ``pointer`` (the old name means something
    else in another command, so keeping it would give one flag two meanings).
    """

    pointer: str
    rewrite: Optional[Callable[[Optional[str]], List[str]]] = None
    takes_value: bool = True


def _input_shape_to_size(text: Optional[str]) -> List[str]:
    """export's old ``--input-shape N,C,H,W`` -> ``--batch-size N --input-size C,H,W``."""
    try:
        dims = _dims(text or "")
    except ValueError:
        dims = []
    if len(dims) != 4 or min(dims) < 1:
        raise UsageError(
            f"--input-shape: received {text!r}, expected N,C,H,W (deprecated: use --input-size C,H,W --batch-size N)"
        )
    return ["--batch-size", str(dims[0]), "--input-size", ",".join(map(str, dims[1:]))]


RENAMED: Dict[str, Dict[str, Renamed]] = {
    "export": {
        "--input-shape": Renamed("use --input-size C,H,W --batch-size N", _input_shape_to_size),
    },
    "bench": {
        "-n": Renamed("-n is --num-samples; the timed runs per variant are --iterations N"),
        "--model": Renamed(
            "--model is the PyTorch model of validate; name the server's model as TARGET: "
            "edgeattn bench --triton URL NAME"
        ),
    },
    "triton": {
        "-n": Renamed("-n is --num-samples; the model name is --name NAME"),
        "-b": Renamed("-b is the runtime --backend; the Triton backend is --triton-backend auto|python"),
        "--backend": Renamed("--backend is the runtime backend; the Triton backend is --triton-backend auto|python"),
        "--version": Renamed("--version prints edgeattn's version; the version folder is --model-version N"),
        "--warmup": Renamed("--warmup is bench's count of untimed runs; use --model-warmup", takes_value=False),
        "--no-warmup": Renamed("use --no-model-warmup", lambda _: ["--no-model-warmup"], takes_value=False),
    },
}


def translate_renamed(command: str, args: List[str], quiet: bool = False) -> List[str]:
    """``args`` with the old spellings of ``command`` rewritten, or UsageError for a refused one."""
    table = RENAMED.get(command)
    if not table:
        return args
    out: List[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            out.append(arg)
            out.extend(items)
            break
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in table and not arg.startswith("--") and arg[:2] in table and len(arg) > 2:
            name, eq, inline = arg[:2], "=", arg[2:]  # "-n5": a short flag with its value attached
        spec = table.get(name)
        if spec is None:
            out.append(arg)
            continue
        if spec.rewrite is None:
            raise UsageError(f"{name} is not an option of {command}: {spec.pointer}.")
        given = (inline if eq else next(items, None)) if spec.takes_value else None
        if not quiet:
            from rich.markup import escape

            from ._errors import print_warning

            print_warning(escape(f"{name} is deprecated in {command}: {spec.pointer}."))
        out.extend(spec.rewrite(given))
    return out


class Command(TyperCommand):
    """Every edgeattn command: old spellings are translated (or refused) before Click parses."""

    def parse_args(self, ctx: Any, args: List[str]) -> List[str]:
        try:
            args = translate_renamed(self.name or "", list(args), quiet=ctx.resilient_parsing)
        except UsageError as exc:
            if ctx.resilient_parsing:  # shell completion: leave the words as typed
                return super().parse_args(ctx, args)
            exc.ctx = ctx  # so Click prints this command's usage line
            raise
        return super().parse_args(ctx, args)
