"""Parity validation: run artifacts and a reference on the same inputs and compare.

The reference is the PyTorch model the artifact was exported from (its recorded provenance: source model + checkpoint) unless ``model``/``checkpoint`` are given, or another
artifact (``reference=``: e.g. the FP32 ONNX an INT8 model or an engine was made from), which runs
on its runtime and needs no PyTorch: an artifact is data, not code, so it needs no opt-in. Inputs are seeded
random tensors by default or real data (image folder with the model's preprocessing, .npy, .npz);
random inputs alone can mislead (TensorRT#1565), so real inputs are preferred when available.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .._lazy import available
from ..artifact import ArtifactInfo
from ..data import Preprocessing, Samples, SampleStream, random_samples, stream_samples
from ..data.reference_set import ReferenceSet, read_reference_set, reference_set_path
from ..errors import EdgeattnError, EdgeattnWarning, InputError, MissingExtraError, ParityError
from ..graph import detect_precision
from ..compare import PRECISIONS, compare_output, is_classifier_output, tolerance_for
from .identity import check_weights
from .probes import read_probes
from .report import ArtifactResult, Localization, ProbeComparison, ValidationReport

# typing.Callable: the alias is evaluated, and collections.abc.Callable[...] needs Python 3.9.
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def infer_precision(artifact: str | os.PathLike[str]) -> str:
    """The recorded precision (:class:`ArtifactInfo`); else guessed from the graph; else fp32."""
    path = Path(artifact)
    info = ArtifactInfo.read(path)
    if info.precision == "fp32" and info.tf32:
        return "tf32"  # FP32 layers ran on TF32 tensor cores: edgeattn build --tf32
    if info.precision is not None:
        return info.precision
    if path.suffix.lower() != ".onnx":
        return "fp32"
    import onnx

    return detect_precision(onnx.load(os.fspath(path), load_external_data=False))


def _input_size(runner: Any, info: ArtifactInfo, reference: Any) -> tuple[int, int, int]:
    """The artifact's input size (:class:`ArtifactInfo`'s precedence); else what the loaded runner
    reports (an engine without its sidecar); else the reference model's default."""
    if info.input_size is not None:
        return info.input_size
    spec = runner.inputs[0]
    dims = spec.shape[1:]
    if len(dims) == 3 and all(isinstance(d, int) and d > 0 for d in dims):
        return (int(dims[0]), int(dims[1]), int(dims[2]))
    size = getattr(reference, "default_input_size", None)
    if size and len(size) == 3:
        return tuple(int(d) for d in size)  # type: ignore[return-value]
    raise ParityError(f"cannot tell the input size of {spec.describe()}", hint="pass --inputs with data of the right shape")


def _batches(samples: np.ndarray, batch: int, fixed: int | None) -> list[tuple[np.ndarray, int]]:
    """Split into batches; a model with a fixed batch dimension gets padded last batches."""
    size = fixed or batch
    out = []
    for start in range(0, samples.shape[0], size):
        chunk = samples[start : start + size]
        real = chunk.shape[0]
        if fixed and real < fixed:
            pad = np.repeat(chunk[-1:], fixed - real, axis=0)
            chunk = np.concatenate([chunk, pad], axis=0)
        out.append((chunk, real))
    return out


def _run_all(runner: Any, samples: np.ndarray, batch: int, progress: Progress | None, stage: str) -> dict[str, np.ndarray]:
    spec = runner.inputs[0]
    fixed = spec.fixed_batch
    dtype = np.dtype(spec.dtype)
    collected: dict[str, list[np.ndarray]] = {}
    chunks = _batches(samples, batch, fixed)
    for index, (chunk, real) in enumerate(chunks):
        result = runner.run({spec.name: chunk.astype(dtype, copy=False)})
        for name, value in result.items():
            collected.setdefault(name, []).append(np.asarray(value)[:real])
        if progress:
            progress(stage, index + 1, len(chunks))
    return {name: np.concatenate(parts, axis=0) for name, parts in collected.items()}


def _run_stream(
    samples: SampleStream, runners: Sequence[tuple[str, Any]], batch: int, progress: Progress | None, stage: str
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """One pass over ``samples`` feeding every runner each batch: ``(outputs by key, errors by key)``.

    The inputs are read in batches (a worker thread decodes the next ones meanwhile), so memory
    holds a few input batches plus the outputs, never the data set. A runner that fails is
    dropped with its message; the reference (key ``""``) raises instead.
    """
    step = max([batch] + [r.inputs[0].fixed_batch or 0 for _, r in runners])
    collected: dict[str, dict[str, list[np.ndarray]]] = {key: {} for key, _ in runners}
    errors: dict[str, str] = {}
    done = 0
    for chunk in samples.batches(step):
        for key, runner in runners:
            if key in errors:
                continue
            try:
                result = _run_all(runner, chunk, batch, None, stage)
            except EdgeattnError as exc:
                if key == "":
                    raise
                errors[key] = exc.message
                continue
            for name, value in result.items():
                collected[key].setdefault(name, []).append(value)
        done += chunk.shape[0]
        if progress:
            progress(stage, done, len(samples))
    outputs = {key: {name: np.concatenate(parts, axis=0) for name, parts in by_name.items()}
               for key, by_name in collected.items() if key not in errors}
    return outputs, errors


def _on_pixel_grid(runners: list[tuple[str, Any]], recipes: Mapping[str, Optional[Preprocessing]]) -> list[tuple[str, Any]]:
    """When an artifact bakes its preprocessing (``export --bake-preprocessing``: uint8 input), every
    runner must see the same images: each batch is rounded to 8-bit pixels through the recipe's
    inverse; artifacts that bake get those pixels, the others and the reference their normalised
    values (what the baked graph computes). Without such an artifact the runners are unchanged."""
    baked = {key: r for key, r in recipes.items() if r is not None and r.in_graph}
    if not baked:
        return runners
    grid = next(iter(baked.values()))
    return [(key, _PixelGridRunner(runner, grid, baked.get(key))) for key, runner in runners]


class _PixelGridRunner:
    """A runner fed normalised float batches, on the 8-bit pixel grid of ``grid`` (see :func:`_on_pixel_grid`)."""

    def __init__(self, runner: Any, grid: Preprocessing, baked: Optional[Preprocessing]) -> None:
        self._runner = runner
        self._baked = baked
        self._multiplier, self._offset = grid.pixel_affine()

    @property
    def inputs(self) -> Any:
        spec = self._runner.inputs[0]
        if self._baked is None:
            return self._runner.inputs
        from ..runtime.base import TensorSpec

        return [TensorSpec(spec.name, np.dtype(np.float32), (spec.shape[0], *self._baked.input_size))]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        ((name, x),) = feeds.items()
        pixels = np.clip(np.rint((x - self._offset) / self._multiplier), 0, 255)
        if self._baked is None:
            return self._runner.run({name: (pixels * self._multiplier + self._offset).astype(np.float32)})
        planar = pixels.astype(np.uint8)
        return self._runner.run({name: planar.transpose(0, 2, 3, 1).copy() if self._baked.in_graph == "nhwc" else planar})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


def _class_order(samples: SampleStream, class_names: Any) -> dict[str, Any]:
    """How label indices were assigned (the folder layout must match the model's training)."""
    if samples.labels is None or samples.class_names is None:
        return {}
    how = (f"class list {os.fspath(class_names)}" if isinstance(class_names, (str, os.PathLike))
           else "the given class list" if class_names is not None else "sorted folder names (torchvision ImageFolder)")
    return {"class_order": how, "classes": len(samples.class_names)}


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    top1 = float(np.mean(np.argmax(logits, axis=1) == labels))
    result = {"top1": top1, "count": float(labels.shape[0])}
    if logits.shape[1] >= 5:
        top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
        result["top5"] = float(np.mean([lab in row for lab, row in zip(labels, top5)]))
    return result


def validate(
    artifacts: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    model: Any = None,
    checkpoint: str | os.PathLike[str] | None = None,
    backend: str = "auto",
    inputs: str | os.PathLike[str] | Samples | np.ndarray | None = None,
    num_samples: int | None = None,
    seed: int = 0,
    batch_size: int = 1,
    atol: float | Mapping[str, float] | None = None,
    rtol: float | Mapping[str, float] | None = None,
    min_cosine: float | Mapping[str, float] | None = None,
    precision: str | None = None,
    localize: bool = True,
    threads: int | None = None,
    runner_options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    trust_provenance: bool = False,
    reference: str | os.PathLike[str] | None = None,
    use_recorded_checkpoint: bool = True,
    class_names: Sequence[str] | str | os.PathLike[str] | None = None,
) -> ValidationReport:
    """Compare each artifact (ONNX, TensorRT engine) with its PyTorch model; see the module docstring.

    ``num_samples``: random inputs to draw (default 8), or how many of the real ``inputs`` to use
    (default all). ``atol``/``rtol``/``min_cosine``: a scalar for every output or ``{output_name: value}``
    (``"*"`` for the rest); defaults come from ``precision`` (inferred per artifact when None).
    ``model`` is a source string, an ``nn.Module`` or a :class:`edgeattn.models.LoadedModel`.
    Without ``model``, the model recorded in the artifact's provenance is used when it is a registry
    name or a ``timm:``/``torchvision:`` source; one that would run code from a file or module runs
    only with ``trust_provenance`` and after the checks in :mod:`edgeattn.validation.reference`.
    Without ``checkpoint``, a model given as a source string or taken from the provenance gets the
    checkpoint recorded at export (at its recorded path, or beside the artifact when both moved
    together) unless ``use_recorded_checkpoint`` is false; an ``nn.Module`` keeps its own weights.
    ``reference``: an artifact to compare against instead of PyTorch (run on ONNX Runtime for
    ``.onnx``, TensorRT for an engine); ``model``/``checkpoint`` must then be None.
    ``inputs`` are read in batches (:func:`edgeattn.data.stream_samples`): a whole data set
    (image folder, ``.npy``, ``.npz``) goes through in bounded memory, with top-1/top-5 for the
    reference and each artifact when it is labelled. ``class_names``: the model's class order for
    a class-per-folder image folder (names or a file, one per line); default sorted folder names.
    Returns a :class:`ValidationReport` that is truthy when every artifact passed.
    """
    paths = _check_request(artifacts, precision, batch_size, num_samples, reference, model, checkpoint)
    recorded, reference = _recorded_set(paths[0], reference, inputs, model)
    info = ArtifactInfo.read(paths[0])
    provenance = info.provenance
    runner_opts = dict(runner_options or {})
    if threads is not None:
        runner_opts.setdefault("threads", threads)
    ref = _reference(recorded, reference, model, checkpoint, backend, runner_opts, provenance, paths[0],
                     trust_provenance, use_recorded_checkpoint, threads, model_options)
    candidates, first_runner = _load_candidates(paths, backend, runner_opts)
    # Advisory only: exporters rewrite tensors (BatchNorm folding), so the numbers decide below.
    identities = {path: check_weights(path, ref.runner.model) for path, runner, _ in candidates if runner is not None}
    _check_tolerances(first_runner, {"atol": atol, "rtol": rtol, "min_cosine": min_cosine})
    input_size = _input_size(first_runner, info, ref.runner)
    if not isinstance(ref.runner, (ArtifactReference, RecordedReference)):
        # The reference takes the artifact's input size, in case the model defaults to another one.
        ref.runner._input_shape = ("batch", *input_size)
    if recorded is not None:
        samples = _recorded_samples(recorded, num_samples, input_size)
    else:
        samples = _resolve_samples(inputs, input_size, num_samples, seed, paths[0], ref.runner, first_runner, class_names)
    run = _run_pass(samples, candidates, ref.runner, recorded, batch_size, progress)
    report = ValidationReport(
        reference=_describe_reference(ref),
        inputs={"source": samples.source, "count": len(samples), "batch_size": batch_size, "seed": seed if inputs is None else None,
                "shape": [len(samples), *input_size], "labelled": samples.labels is not None,
                **_class_order(samples, class_names)},
        environment=_environment(ref.runner),
    )
    ref_names = list(run.reference)
    if samples.labels is not None and ref_names and is_classifier_output(run.reference[ref_names[0]].shape):
        report.reference_accuracy = _accuracy(run.reference[ref_names[0]], samples.labels)
    judging = _Judging(precision, atol, rtol, min_cosine, localize, runner_opts,
                       synthetic=inputs is None and recorded is None)
    for path, runner, error in candidates:
        result = ArtifactResult(artifact=path, backend=runner.backend if runner else backend,
                                precision=precision or infer_precision(path))
        report.artifacts.append(result)
        identity = identities.get(path)
        if identity is not None:
            result.weights = identity.to_dict()
        note = _weights_note(identity, path, ref.checkpoint, use_recorded_checkpoint, provenance)
        if note is not None:
            result.notes.append(note)
            warnings.warn(note, EdgeattnWarning, stacklevel=2)
        if runner is None:
            result.error = error
            continue
        _judge(result, runner, run, judging)
    ref.runner.close()
    return report


@dataclass
class _Reference:
    """The reference side: its runner, and the PyTorch model and checkpoint it was made from (if any)."""

    runner: Any  # TorchRunner | ArtifactReference | RecordedReference
    model: Any = None
    checkpoint: Any = None


@dataclass
class _Run:
    """One streamed pass: the reference's outputs, each artifact's outputs and run errors."""

    samples: SampleStream
    reference_runner: Any
    reference: dict[str, np.ndarray]
    outputs: dict[str, dict[str, np.ndarray]]
    errors: dict[str, str]


@dataclass(frozen=True)
class _Judging:
    """How each artifact is judged: tolerances (or the precision defaults) and what to do on failure."""

    precision: str | None
    atol: Any
    rtol: Any
    min_cosine: Any
    localize: bool
    runner_options: Mapping[str, Any]
    synthetic: bool  # seeded random inputs (no --inputs, no recorded set)


# -- stage: check the request --------------------------------------------------------------------


def _check_request(
    artifacts: Any, precision: str | None, batch_size: int, num_samples: int | None, reference: Any, model: Any,
    checkpoint: Any,
) -> list[Any]:
    """The artifact paths (existing files); the options that cannot go together refused."""
    paths = [artifacts] if isinstance(artifacts, (str, os.PathLike)) else list(artifacts)
    if not paths:
        raise InputError("no artifact given: expected at least one .onnx / .engine file")
    for p in paths:
        if not Path(p).exists():
            raise InputError(f"artifact not found: {os.fspath(p)}")
        if Path(p).is_dir():
            raise InputError(f"artifact {os.fspath(p)} is a directory; expected an .onnx or .engine file")
    if precision is not None and precision not in PRECISIONS:
        raise InputError(f"precision: received {precision!r}, expected one of {list(PRECISIONS)}")
    if batch_size < 1 or (num_samples is not None and num_samples < 1):
        raise InputError(f"batch size and number of samples must be >= 1 (received {batch_size}, {num_samples})")
    if reference is not None and (model is not None or checkpoint is not None):
        raise InputError("received both a reference artifact and a PyTorch model/checkpoint; expected one reference",
                         hint="drop --model/--checkpoint to compare against --reference, or drop --reference")
    if reference is not None and not Path(reference).is_file():
        raise InputError(f"reference artifact not found: {os.fspath(reference)}", hint="pass an .onnx, an engine or a .reference.npz")
    return paths


# -- stage: load the reference and the artifacts -------------------------------------------------


def _reference(
    recorded: ReferenceSet | None,
    reference: Any,
    model: Any,
    checkpoint: Any,
    backend: str,
    runner_opts: dict[str, Any],
    provenance: Any,
    artifact: Any,
    trust_provenance: bool,
    use_recorded_checkpoint: bool,
    threads: int | None,
    model_options: Mapping[str, Any] | None,
) -> _Reference:
    """Recorded outputs, another artifact, or the PyTorch model (given, or from the provenance)."""
    if recorded is not None and reference is not None and Path(reference).suffix.lower() == ".npz":
        return _Reference(RecordedReference(recorded, reference), model, checkpoint)
    if reference is not None:
        return _Reference(ArtifactReference(reference, backend, runner_opts), model, checkpoint)
    if model is None:
        from .reference import refuse_unexported

        refuse_unexported(provenance, artifact)  # before asking for PyTorch it could not use
    from ..runtime.spinning import passive_openmp

    # Before torch loads OpenMP: PyTorch and the artifacts take turns on every batch, and
    # spinning OpenMP threads would keep the cores busy while ONNX Runtime runs (ORT's own
    # spinning is off in its runner). No effect when torch was imported earlier.
    passive_openmp()
    _require_torch()
    from ..runtime.torch_runner import TorchRunner
    from .reference import recorded_checkpoint, reference_pins, resolve_reference

    pins: Any = contextlib.nullcontext()
    if model is None:
        model = resolve_reference(provenance, artifact, trust_provenance=trust_provenance)
        pins = reference_pins(provenance, model)  # the recorded bytes only, siblings included
    if checkpoint is None and use_recorded_checkpoint and isinstance(model, (str, os.PathLike)):
        # A model named by its source gets the recorded weights (--model names the architecture,
        # e.g. the same file from its new place); a module given by the caller keeps its own.
        checkpoint = recorded_checkpoint(provenance or {}, artifact)
    with pins:
        runner = TorchRunner(model, checkpoint=checkpoint, threads=threads, load_kwargs=dict(model_options or {})).load()
    return _Reference(runner, model, checkpoint)


def _describe_reference(ref: _Reference) -> dict[str, Any]:
    if isinstance(ref.runner, (ArtifactReference, RecordedReference)):
        return ref.runner.describe()
    model = ref.model
    name = model if isinstance(model, str) else getattr(model, "source", None) or type(getattr(model, "module", model)).__name__
    return {"model": name, "checkpoint": os.fspath(ref.checkpoint) if ref.checkpoint else None}


def _load_candidates(
    paths: list[Any], backend: str, runner_opts: Mapping[str, Any]
) -> tuple[list[tuple[str, Any, str | None]], Any]:
    """A runner per artifact (or the reason it did not load, when there are several); the first runner."""
    from ..runtime import load

    candidates: list[tuple[str, Any, str | None]] = []
    for p in paths:
        try:
            candidates.append((os.fspath(p), load(p, backend=backend, **runner_opts), None))
        except EdgeattnError as exc:
            if len(paths) == 1:
                raise
            candidates.append((os.fspath(p), None, exc.message))
    first_runner = next((r for _, r, _ in candidates if r is not None), None)
    if first_runner is None:
        raise ParityError("no artifact could be loaded: " + "; ".join(f"{p}: {e}" for p, _, e in candidates))
    return candidates, first_runner


# -- stage: inputs and the streamed run ----------------------------------------------------------


def _recorded_samples(recorded: ReferenceSet, num_samples: int | None, input_size: tuple[int, int, int]) -> SampleStream:
    """The inputs of a recorded reference set (at most ``num_samples``), checked against the input size."""
    count = min(len(recorded.inputs), num_samples or len(recorded.inputs))
    held = Samples(arrays=recorded.inputs[:count], source=f"recorded {recorded.meta.get('file', 'reference set')} ({recorded.meta.get('inputs', 'real inputs')})")
    if tuple(held.arrays.shape[1:]) != tuple(input_size):
        raise InputError(f"{recorded.meta.get('file')}: received inputs {list(held.arrays.shape)}, expected [N, {', '.join(map(str, input_size))}]",
                         hint="the reference set belongs to another model")
    return SampleStream.from_samples(held)


def _run_pass(
    samples: SampleStream,
    candidates: list[tuple[str, Any, str | None]],
    reference: Any,
    recorded: ReferenceSet | None,
    batch_size: int,
    progress: Progress | None,
) -> _Run:
    """One streamed pass: each batch goes through the reference and every artifact in turn."""
    live = [(os.fspath(p), r) for p, r, _ in candidates if r is not None]
    if not isinstance(reference, RecordedReference):
        live.insert(0, ("", reference))
    live = _on_pixel_grid(live, {key: ArtifactInfo.read(key).preprocessing for key, _ in live if key})
    all_outputs, run_errors = _run_stream(samples, live, batch_size, progress, f"{len(samples)} sample(s)")
    if isinstance(reference, RecordedReference):
        ref_outputs = {k: v[: len(samples)] for k, v in recorded.outputs.items()}  # type: ignore[union-attr]
    else:
        ref_outputs = all_outputs[""]
    return _Run(samples, reference, ref_outputs, all_outputs, run_errors)


# -- stage: judge each artifact ------------------------------------------------------------------


def _weights_note(identity: Any, path: str, checkpoint: Any, use_recorded_checkpoint: bool, provenance: Any) -> str | None:
    """A note when the PyTorch model's weights do not look like the artifact's (advisory)."""
    if identity is None or identity.verdict != "different":
        return None
    return (
        f"the PyTorch model's weights do not look like the ones in {Path(path).name} ({identity.summary()}): "
        "pass --checkpoint with the weights the artifact was exported from"
        + ("" if checkpoint else " (the recorded checkpoint was not loaded, as asked)"
           if not use_recorded_checkpoint and (provenance or {}).get("checkpoint") else
           " (it was exported without one: random weights cannot be re-created)")
    )


def _judge(result: ArtifactResult, runner: Any, run: _Run, judging: _Judging) -> None:
    """Compare one artifact's outputs with the reference's; on failure, advice and localisation."""
    path, art_precision = result.artifact, result.precision
    result.runner = runner.report_info()
    if path in run.errors:
        result.error = run.errors[path]
        runner.close()
        return
    outputs = run.outputs[path]
    names, ref_names = list(outputs), list(run.reference)
    if len(names) != len(ref_names):
        result.error = f"the artifact has {len(names)} output(s) {names}, the {getattr(run.reference_runner, 'label', 'PyTorch model')} returns {len(ref_names)}"
        runner.close()
        return
    # Outputs pair up by position (export keeps the order); report them by the artifact's names.
    for ref_name, name in zip(ref_names, names):
        tol = tolerance_for(name, art_precision, judging.atol, judging.rtol, judging.min_cosine)
        result.outputs.append(compare_output(name, run.reference[ref_name], outputs[name], tol))
    labels = run.samples.labels
    if labels is not None and is_classifier_output(outputs[names[0]].shape):
        result.accuracy = _accuracy(outputs[names[0]].astype(np.float64), labels)
    runner.close()
    _diagnose(result, run, judging)


def _diagnose(result: ArtifactResult, run: _Run, judging: _Judging) -> None:
    """INT8 on random inputs is left unjudged; a failed INT8 ONNX gets keep-FP32 advice; localise."""
    path, art_precision = result.artifact, result.precision
    defaults = judging.atol is None and judging.rtol is None and judging.min_cosine is None
    if judging.synthetic and art_precision == "int8" and defaults:
        result.unjudged = (
            "INT8 on random inputs: they fall outside the calibrated ranges, so even a correct model "
            "diverges on them; only NaN/Inf is judged (pass --inputs with real data, or keep the "
            ".reference.npz that quantize writes beside the model)"
        )
    if art_precision == "int8" and not result.passed and not result.unjudged and Path(path).suffix.lower() == ".onnx":
        from .int8_advice import keep_fp32_advice

        result.advice = keep_fp32_advice(path)
    if not result.passed and judging.localize:
        worst = max(result.outputs, key=lambda o: (not o.passed, o.max_abs)).worst_sample
        result.localization = localize_divergence(
            path, run.reference_runner, run.samples.sample(worst), art_precision, judging.atol, judging.rtol,
            judging.min_cosine, worst, judging.runner_options,
        )


def _recorded_set(
    artifact: str | os.PathLike[str], reference: str | os.PathLike[str] | None, inputs: Any, model: Any
) -> tuple[ReferenceSet | None, str | os.PathLike[str] | None]:
    """(recorded reference set to take the inputs from, the reference to compare against).

    ``--reference X.npz`` compares with its recorded outputs. Without ``--inputs``, the set beside
    the artifact (written by quantize) gives real inputs; its recorded outputs are the reference
    unless PyTorch (or another artifact) is there to compute the reference on them."""
    path: Path | None = None
    if reference is not None and Path(reference).suffix.lower() == ".npz":
        if inputs is not None:
            raise InputError("received --inputs with a recorded reference set; expected one: recorded outputs are "
                             "only for their own inputs", hint="drop --inputs, or compare with --reference MODEL.onnx")
        path = Path(reference)
    elif inputs is None and reference_set_path(artifact).is_file():
        path = reference_set_path(artifact)
        if reference is None and model is None and not available("torch"):
            reference = path
    if path is None:
        return None, reference
    recorded = read_reference_set(path)
    recorded.meta.setdefault("file", path.name)
    return recorded, reference


def _resolve_samples(
    inputs: Any, input_size: tuple[int, int, int], num_samples: int | None, seed: int, artifact: Any, reference: Any, runner: Any,
    class_names: Any = None,
) -> SampleStream:
    if isinstance(inputs, SampleStream):
        if tuple(inputs.sample_shape) != tuple(input_size):
            raise InputError(f"inputs: received samples of shape {list(inputs.sample_shape)}, expected [{', '.join(map(str, input_size))}]")
        return inputs
    if inputs is None:
        return SampleStream.from_samples(random_samples(input_size, num_samples or 8, seed=seed))
    if isinstance(inputs, Samples):
        samples = inputs
    elif isinstance(inputs, np.ndarray):
        if not np.issubdtype(inputs.dtype, np.number) or np.issubdtype(inputs.dtype, np.complexfloating):
            raise InputError(f"inputs: received dtype {inputs.dtype}, expected real-valued numbers")
        samples = Samples(arrays=inputs.astype(np.float32)[None] if inputs.ndim == 3 else inputs.astype(np.float32), source="array")
    else:
        # Streamed: shapes are checked on opening, NaN/Inf in the batch that holds them.
        pre = _preprocessing_for(artifact, reference, input_size)
        return stream_samples(inputs, input_size=input_size, preprocessing=pre, limit=num_samples,
                              input_name=runner.inputs[0].name, class_names=class_names)
    if tuple(samples.arrays.shape[1:]) != tuple(input_size):
        raise InputError(f"inputs: received shape {list(samples.arrays.shape)}, expected [N, {', '.join(map(str, input_size))}]")
    nonfinite = int(samples.arrays.size - np.count_nonzero(np.isfinite(samples.arrays)))
    if nonfinite:
        # Caught here, not blamed on the first attention block by the localisation afterwards.
        raise InputError(f"inputs: received {nonfinite} NaN or Inf value(s), expected finite inputs")
    return SampleStream.from_samples(samples)


def _preprocessing_for(artifact: Any, reference: Any, input_size: tuple[int, int, int]) -> Preprocessing:
    """The recipe for image inputs: the artifact's, else an ONNX reference's, else the PyTorch
    model's, else ImageNet's; always at the artifact's input size."""
    pre = Preprocessing.from_onnx(artifact, input_size=input_size) if Path(artifact).suffix == ".onnx" else None
    if pre is None and isinstance(reference, ArtifactReference) and reference.path.suffix == ".onnx":
        pre = Preprocessing.from_onnx(reference.path, input_size=input_size)
    if pre is None and getattr(reference, "preprocessing", None) is not None:
        pre = reference.preprocessing.with_input_size(input_size)  # the PyTorch model's recipe
    if pre is None:
        pre = Preprocessing(input_size=input_size)  # no recipe anywhere: the ImageNet one
    return pre


def _check_tolerances(runner: Any, tolerances: Mapping[str, Any]) -> None:
    """Tolerances are finite, non-negative, and name outputs the artifact has."""
    names = [spec.name for spec in runner.outputs]
    for option, value in tolerances.items():
        if value is None:
            continue
        items = value.items() if isinstance(value, Mapping) else [("*", value)]
        for name, number in items:
            try:
                ok = math.isfinite(float(number)) and float(number) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(f"{option}: received {number!r} for {name!r}, expected a finite non-negative number")
            if name != "*" and name not in names:
                raise InputError(f"{option}: received output name {name!r}, expected one of {names} (or a plain VALUE)")


def localize_divergence(
    artifact: str,
    reference: Any,
    sample: np.ndarray,
    precision: str,
    atol: Any,
    rtol: Any,
    min_cosine: Any,
    sample_index: int,
    runner_options: Mapping[str, Any],
) -> Localization:
    """Compare every attention block and stage output on one sample; name the first divergence."""
    loc = Localization(sample=sample_index)
    probes = read_probes(artifact) if Path(artifact).suffix.lower() == ".onnx" else None
    refusal = _localization_refusal(artifact, probes, reference)
    if refusal is not None:
        loc.message = refusal
        return loc
    usable, skipped = _usable_probes(probes or [], reference)
    opts = {k: v for k, v in runner_options.items() if k in ("threads", "providers", "provider_options")}
    try:
        onnx_out, ref_out = _probe_outputs(artifact, reference, usable, sample, opts)
    except EdgeattnError as exc:
        loc.message = f"could not run the ONNX model with extra outputs: {exc.message}"
        return loc
    # Per-output tolerances name the model's outputs, not the probed tensors: only scalars apply.
    scalar = [None if isinstance(v, Mapping) else v for v in (atol, rtol, min_cosine)]
    for probe in usable:
        ref = ref_out.get(probe.module)
        got = onnx_out.get(probe.tensor)
        if ref is None or got is None:
            continue
        got = np.asarray(got)[: ref.shape[0]]
        cmp = compare_output(probe.tensor, ref, got, tolerance_for(probe.tensor, precision, *scalar))
        note = "; ".join(cmp.reasons)
        loc.probes.append(ProbeComparison(probe.module, probe.tensor, probe.kind, cmp.max_abs, cmp.max_rel, cmp.cosine, cmp.passed, note))
    _conclude(loc, skipped)
    return loc


def _localization_refusal(artifact: str, probes: Any, reference: Any) -> str | None:
    """Why a block-by-block comparison cannot run here (None when it can)."""
    if probes is None:
        return "block-by-block comparison needs the ONNX file; run validate on the .onnx the engine was built from"
    if not probes:
        return "the artifact records no attention blocks or stage probes: nothing to compare block by block"
    if isinstance(reference, RecordedReference):
        return "recorded outputs hold no intermediate tensors: pass --reference MODEL_FP32.onnx to compare block by block"
    if isinstance(reference, ArtifactReference) and reference.path.suffix.lower() != ".onnx":
        return "block-by-block comparison needs an ONNX reference; pass the .onnx the engine was built from"
    return None


def _usable_probes(probes: list[Any], reference: Any) -> tuple[list[Any], list[str]]:
    """The probes the reference can also show (by tensor name in an ONNX reference, by module in PyTorch)."""
    if isinstance(reference, ArtifactReference):
        # Quantizers keep the FP32 tensor names (Q/DQ and Cast nodes are added beside them).
        have = reference.tensor_names()
        return [p for p in probes if p.tensor in have], [p.module for p in probes if p.tensor not in have]
    modules = dict(reference.model.named_modules())
    return [p for p in probes if p.module in modules], [p.module for p in probes if p.module not in modules]


def _probe_outputs(
    artifact: str, reference: Any, usable: list[Any], sample: np.ndarray, opts: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the artifact's probed tensors by tensor name, the reference's by module name) for one sample."""
    onnx_out = _run_with_probes(artifact, [p.tensor for p in usable], sample, opts)
    if isinstance(reference, ArtifactReference):
        by_tensor = _run_with_probes(reference.path, [p.tensor for p in usable], sample, opts)
        return onnx_out, {p.module: np.asarray(by_tensor[p.tensor])[: sample.shape[0]] for p in usable if p.tensor in by_tensor}
    _, ref_out = reference.run_with_hooks(sample, [p.module for p in usable])
    return onnx_out, ref_out


def _conclude(loc: Localization, skipped: list[str]) -> None:
    """The first diverging probe, and the message that names it (or says why none does)."""
    first = next((p for p in loc.probes if not p.passed), None)
    if first is not None:
        loc.first_divergence = first.module
        message = (
            f"first divergence at {first.module} ({first.kind}, tensor {first.tensor}): max abs {first.max_abs:.3g}, "
            f"cosine {first.cosine:.6f}; every earlier block matches"
        )
    elif loc.probes:
        message = "every probed block matches: the divergence arises after the last probe (head) or only without extra outputs"
    else:
        message = "no probe could be compared"
    if skipped:
        message += f" (not in the PyTorch model, skipped: {', '.join(skipped[:5])})"
    loc.message = message


def _run_with_probes(model: str | os.PathLike[str], tensors: list[str], sample: np.ndarray, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Run one sample through ``model`` on ONNX Runtime with ``tensors`` marked as extra outputs."""
    from ..runtime.onnxruntime_runner import OnnxRuntimeRunner

    with OnnxRuntimeRunner(model, extra_outputs=tensors, **opts) as runner:
        spec = runner.inputs[0]
        fixed = spec.fixed_batch
        batch = np.repeat(sample, fixed, axis=0) if fixed else sample
        return runner.run({spec.name: batch.astype(spec.dtype)})


def _require_torch() -> None:
    """A PyTorch reference needs torch: say so up front, with the torch-free alternative."""
    from .._lazy import require

    try:
        require("torch", "validating against the PyTorch model")
    except MissingExtraError as exc:
        exc.hint = "or compare against another artifact without PyTorch: --reference MODEL_FP32.onnx"
        raise


class RecordedReference:
    """Recorded outputs (a ``.reference.npz``) as the reference side: nothing to run."""

    def __init__(self, recorded: ReferenceSet, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.model = None
        self.recorded = recorded
        self.label = f"recorded outputs in {self.path.name}"

    def info(self) -> Any:
        raise NotImplementedError  # no runtime of its own: _environment skips it

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"recorded": os.fspath(self.path), "producer": self.recorded.producer,
                "parent_sha256": self.recorded.meta.get("parent_sha256")}


class ArtifactReference:
    """An artifact (ONNX on ONNX Runtime, or an engine) as the reference side of a comparison."""

    def __init__(self, path: str | os.PathLike[str], backend: str, runner_options: Mapping[str, Any]) -> None:
        from ..runtime import load

        self.path = Path(path)
        self.model = None  # no PyTorch module: weights_agree and from_model are skipped
        self.label = f"reference {self.path.name}"
        # An ONNX reference runs on ONNX Runtime even when the artifacts are engines.
        ref_backend = "onnxruntime" if self.path.suffix.lower() == ".onnx" else backend
        self._runner = load(self.path, backend=ref_backend, **dict(runner_options))
        self.backend = self._runner.backend

    @property
    def inputs(self) -> Any:
        return self._runner.inputs

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._runner.run(feeds)

    def info(self) -> Any:
        return self._runner.info()

    def close(self) -> None:
        self._runner.close()

    def describe(self) -> dict[str, Any]:
        return {"artifact": os.fspath(self.path), "backend": self.backend, "precision": infer_precision(self.path)}

    def tensor_names(self) -> set[str]:
        import onnx

        proto = onnx.load(os.fspath(self.path), load_external_data=False)
        return {out for node in proto.graph.node for out in node.output} | {i.name for i in proto.graph.input}


def _environment(reference: Any) -> dict[str, Any]:
    import platform

    import numpy

    env: dict[str, Any] = {"python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform()}
    try:
        env.update(reference.info().details)
    except Exception:  # environment is informative only
        pass
    return env
