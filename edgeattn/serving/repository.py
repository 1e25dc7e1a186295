"""Write a Triton Inference Server model repository from edgeattn artifacts.

Layout (Triton docs: user_guide/model_repository.md)::

    REPO/<name>/config.pbtxt
    REPO/<name>/<version>/model.onnx       platform onnxruntime_onnx
    REPO/<name>/<version>/model.plan       platform tensorrt_plan (+ model.plan.json, our sidecar)
    REPO/<name>/<version>/model.py         backend python: edgeattn's runner over the artifact

With preprocessing, ``<name>_preprocess`` (Python backend: image bytes -> normalised tensor) and
``<name>_ensemble`` (``platform: "ensemble"``: preprocess, then ``<name>``) are written beside it.

Nothing lands half-written: every model is assembled in a staging folder beside REPO, every
``config.pbtxt`` is parsed back with Triton's schema and checked against the artifact, and only
then are folders renamed into place. A model that already exists gets a new version folder (its
other versions and every other model are left alone) and its ``config.pbtxt`` is replaced
atomically; an existing version is never overwritten.
"""

from __future__ import annotations

import json
import os
import pkgutil
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import sidecar_path, write_text_atomic
from ..errors import InputError
from .artifact_info import ArtifactInfo, TensorInfo, describe_artifact
from .model_config import (
    Batching,
    Instances,
    build_config,
    config_problems,
    ensemble_config,
    ensemble_problems,
    parse_config,
    to_text,
)

BACKENDS = ("auto", "python")
KINDS = ("auto", "cpu", "gpu")
# Triton names a model by its folder and serves it under /v2/models/<name>: keep to URL-safe names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
IMAGE_INPUT = "image"


@dataclass(frozen=True)
class RepositoryOptions:
    """How to serve each artifact (the ``edgeattn triton`` options)."""

    name: str | None = None
    backend: str = "auto"  # auto: onnxruntime_onnx / tensorrt_plan; python: edgeattn's runner
    max_batch: int | None = None  # default: the artifact's own maximum
    dynamic_batching: bool = True
    preferred_batch: tuple[int, ...] = ()
    queue_delay_us: int = 500
    instances: int = 1
    kind: str = "auto"  # auto: gpu for engines, cpu otherwise
    version: int | None = None  # default: one past the newest existing version
    with_preprocessing: bool = False
    ort_tensorrt: bool = False  # the ONNX Runtime backend's TensorRT accelerator (GPU instances)
    threads: int | None = None  # ONNX Runtime threads in the python backend
    warmup: bool = True


@dataclass
class WrittenModel:
    name: str
    version: int
    config: str  # the config.pbtxt text
    role: str  # model, preprocess or ensemble
    artifact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "role": self.role, "artifact": self.artifact}


@dataclass
class RepositoryResult:
    repository: Path
    models: list[WrittenModel] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"repository": os.fspath(self.repository), "models": [m.to_dict() for m in self.models]}


@dataclass
class _Planned:
    """One model folder to write: its config and the files of its new version folder."""

    name: str
    config: Any
    files: dict[str, Path | bytes]
    role: str
    info: ArtifactInfo | None = None


def check_model_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            f"model name: received {name!r}, expected letters, digits, '_', '-' or '.' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return name


def default_model_name(path: str | os.PathLike[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).lstrip("._-")
    return stem or "model"


def write_repository(
    repository: str | os.PathLike[str],
    artifacts: Sequence[str | os.PathLike[str]],
    options: RepositoryOptions | None = None,
) -> RepositoryResult:
    """Serve each artifact as a Triton model in ``repository`` (created or updated)."""
    options = options or RepositoryOptions()
    # Resolved, so that the staging folder lands beside REPO even when REPO is ".".
    repo = Path(repository).resolve()
    if not artifacts:
        raise InputError("received no artifact, expected one or more .onnx or .engine files")
    if options.name is not None and len(artifacts) > 1:
        raise InputError(f"--name: received one name for {len(artifacts)} artifacts, expected one artifact per name")
    _check_options(options)
    existing = _scan_repository(repo)
    planned: list[_Planned] = []
    for artifact in artifacts:
        info = describe_artifact(artifact)
        name = check_model_name(options.name if options.name is not None else default_model_name(artifact))
        planned.extend(_plan_models(name, info, options))
    names = [p.name for p in planned]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"artifacts map to the same model name {duplicates}", hint="give each artifact its own --name")
    # One version number for the whole set, so that an ensemble and its members move together.
    version = options.version or 1 + max((max(existing.get(p.name, [0])) for p in planned), default=0)
    for plan in planned:
        if version in existing.get(plan.name, []):
            raise InputError(
                f"{repo / plan.name / str(version)} already exists; expected a new version",
                hint="drop --model-version to take the next free one",
            )
        _check_against_existing(repo, plan)
    return _commit(repo, planned, version, existing)


# -- planning ---------------------------------------------------------------------------------
def _file(info: ArtifactInfo) -> Path:
    """The artifact's file; describe_artifact reads every artifact from one."""
    if info.path is None:
        raise InputError("received an artifact description without its file, expected one read by describe_artifact")
    return info.path


def _check_options(options: RepositoryOptions) -> None:
    if options.backend not in BACKENDS:
        raise InputError(f"--triton-backend: received {options.backend!r}, expected one of {list(BACKENDS)}")
    if options.kind not in KINDS:
        raise InputError(f"--kind: received {options.kind!r}, expected one of {list(KINDS)}")
    if options.instances < 1:
        raise InputError(f"--instances: received {options.instances}, expected at least 1")
    if options.version is not None and options.version < 1:
        raise InputError(f"--model-version: received {options.version}, expected a positive integer")
    if options.queue_delay_us < 0:
        raise InputError(f"--queue-delay-us: received {options.queue_delay_us}, expected >= 0")
    if options.ort_tensorrt and options.backend == "python":
        raise InputError("--ort-tensorrt configures the onnxruntime backend, not --triton-backend python")


def _plan_models(name: str, info: ArtifactInfo, options: RepositoryOptions) -> list[_Planned]:
    batching = _batching(info, options)
    kind = options.kind
    if kind == "auto":
        kind = "gpu" if info.kind == "engine" and options.backend != "python" else "cpu"
    if info.kind == "engine" and options.backend != "python" and kind != "gpu":
        raise InputError("a TensorRT plan runs on a GPU only: received --kind cpu for an engine")
    instances = Instances(count=options.instances, kind=kind)
    files: dict[str, Path | bytes] = {}
    parameters: dict[str, str] = {}
    accelerator = None
    if options.backend == "python":
        artifact_file = "model.onnx" if info.kind == "onnx" else "model.engine"
        files["model.py"] = _python_model("runner_model.py")
        parameters["artifact"] = artifact_file
        if options.threads:
            parameters["threads"] = str(options.threads)
        platform, backend = None, "python"
    elif info.kind == "onnx":
        artifact_file = "model.onnx"
        platform, backend = "onnxruntime_onnx", None
        if options.ort_tensorrt:
            if kind != "gpu":
                raise InputError("--ort-tensorrt needs --kind gpu (TensorRT runs on a GPU)")
            accelerator = {"fp32": "FP32", "fp16": "FP16", "int8": "INT8"}[info.precision or "fp32"]
    else:
        artifact_file = "model.plan"  # the file name the tensorrt backend loads by default
        platform, backend = "tensorrt_plan", None
    files[artifact_file] = _file(info)
    sidecar = sidecar_path(_file(info))
    if sidecar.is_file():
        files[sidecar_path(artifact_file).name] = sidecar  # provenance travels with the artifact
    config = build_config(
        name,
        inputs=info.inputs,
        outputs=info.outputs,
        batching=batching,
        platform=platform,
        backend=backend,
        instances=instances,
        parameters=parameters,
        warmup=options.warmup,
        tensorrt_accelerator=accelerator,
    )
    models = [_Planned(name, config, files, "model", info)]
    if options.with_preprocessing:
        models.extend(_plan_preprocessing(name, info, batching, options))
    return models


def _batching(info: ArtifactInfo, options: RepositoryOptions) -> Batching:
    if not info.dynamic_batch:
        if options.max_batch not in (None, 0):
            raise InputError(
                f"--max-batch {options.max_batch}: {_file(info).name} has a fixed batch of {info.max_batch}",
                hint="re-export with a dynamic batch axis (edgeattn export's default)",
            )
        return Batching(max_batch=0, dynamic=False)
    max_batch = options.max_batch if options.max_batch is not None else info.max_batch
    if not 1 <= max_batch <= info.max_batch:
        raise InputError(f"--max-batch: received {max_batch}, expected 1..{info.max_batch} ({_file(info).name}'s maximum)")
    preferred = tuple(sorted(set(options.preferred_batch)))
    bad = [b for b in preferred if not 1 <= b <= max_batch]
    if bad:
        raise InputError(f"--preferred-batch: received {bad}, expected sizes in 1..{max_batch} (the max batch)")
    return Batching(max_batch=max_batch, dynamic=options.dynamic_batching, preferred=preferred, queue_delay_us=options.queue_delay_us)


def _plan_preprocessing(name: str, info: ArtifactInfo, batching: Batching, options: RepositoryOptions) -> list[_Planned]:
    if info.preprocessing is None:
        raise InputError(f"{_file(info).name} records no preprocessing, expected one for --with-preprocessing")
    if len(info.inputs) != 1:
        raise InputError(f"--with-preprocessing: {_file(info).name} has {len(info.inputs)} inputs, expected one image input")
    model_input = info.inputs[0]
    pre = info.preprocessing
    max_batch = batching.max_batch
    image = TensorInfo(IMAGE_INPUT, np.dtype(object), (-1, 1) if max_batch else (1,))
    pre_name, ens_name = f"{name}_preprocess", f"{name}_ensemble"
    pre_config = build_config(
        pre_name,
        inputs=[image],
        outputs=[model_input],
        batching=batching,
        backend="python",
        instances=Instances(count=options.instances, kind="cpu"),
        parameters={"preprocessing": json.dumps(pre.to_dict())},
    )
    ensemble = ensemble_config(
        ens_name,
        inputs=[image],
        outputs=info.outputs,
        max_batch=max_batch,
        steps=[
            (pre_name, {IMAGE_INPUT: IMAGE_INPUT}, {model_input.name: "preprocessed"}),
            (name, {model_input.name: "preprocessed"}, {t.name: t.name for t in info.outputs}),
        ],
    )
    return [
        _Planned(pre_name, pre_config, {"model.py": _python_model("preprocess_model.py")}, "preprocess"),
        _Planned(ens_name, ensemble, {}, "ensemble"),
    ]


def _python_model(filename: str) -> bytes:
    # pkgutil.get_data, not importlib.resources.files (Python 3.9+): the package is also imported on 3.8.
    data = pkgutil.get_data("edgeattn.serving.python_models", filename)
    assert data is not None  # a regular package on disk or in a zip: its loader reads files
    return data


# -- the repository on disk -------------------------------------------------------------------
def _scan_repository(repo: Path) -> dict[str, list[int]]:
    """Existing models and their numeric versions; anything that is not a model folder is an error."""
    if not repo.exists():
        return {}
    if not repo.is_dir():
        raise InputError(f"repository {repo} is a file, expected a folder (new or a Triton model repository)")
    models: dict[str, list[int]] = {}
    for entry in sorted(repo.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir() or not (entry / "config.pbtxt").is_file():
            raise InputError(
                f"repository {repo} holds {entry.name!r}, which is not a Triton model folder (no config.pbtxt)",
                hint="give an empty or new folder, or an existing Triton model repository",
            )
        models[entry.name] = sorted(int(v.name) for v in entry.iterdir() if v.is_dir() and v.name.isdigit())
    return models


def _check_against_existing(repo: Path, plan: _Planned) -> None:
    """A new version must serve the same tensors through the same platform as the model's others."""
    path = repo / plan.name / "config.pbtxt"
    if not path.is_file():
        return
    old = parse_config(path.read_text(encoding="utf-8"), where=os.fspath(path))
    new = plan.config

    def signature(config: Any) -> tuple[Any, ...]:
        return (
            config.platform,
            config.backend,
            config.max_batch_size > 0,
            [(t.name, t.data_type, list(t.dims)) for t in config.input],
            [(t.name, t.data_type, list(t.dims)) for t in config.output],
        )

    if signature(old) != signature(new):
        raise InputError(
            f"model {plan.name!r} in {repo} serves other tensors or another platform than the new artifact",
            hint="give the new artifact its own --name",
        )


def _validate(planned: Sequence[_Planned]) -> dict[str, str]:
    """Render, re-parse and check every config; return the texts to write."""
    texts = {p.name: to_text(p.config) for p in planned}
    parsed = {name: parse_config(text, where=f"{name}/config.pbtxt") for name, text in texts.items()}
    problems: list[str] = []
    for plan in planned:
        problems += [f"{plan.name}: {msg}" for msg in config_problems(parsed[plan.name], plan.info)]
        if plan.role == "ensemble":
            problems += [f"{plan.name}: {msg}" for msg in ensemble_problems(parsed[plan.name], parsed)]
    if problems:
        raise InputError("generated configuration is inconsistent: " + "; ".join(problems))
    return texts


def _commit(repo: Path, planned: Sequence[_Planned], version: int, existing: dict[str, list[int]]) -> RepositoryResult:
    texts = _validate(planned)
    repo.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{repo.name}.staging-", dir=repo.parent))
    result = RepositoryResult(repository=repo)
    try:
        for plan in planned:
            folder = staging / plan.name
            version_dir = folder / str(version)
            version_dir.mkdir(parents=True)
            for filename, source in plan.files.items():
                target = version_dir / filename
                if isinstance(source, Path):
                    shutil.copyfile(source, target)
                else:
                    target.write_bytes(source)
            (folder / "config.pbtxt").write_text(texts[plan.name], encoding="utf-8")
        # Everything is in place and checked: move it in, one rename per folder.
        for plan in planned:
            folder = staging / plan.name
            if plan.name in existing:
                os.rename(folder / str(version), repo / plan.name / str(version))
                write_text_atomic(repo / plan.name / "config.pbtxt", texts[plan.name])
            else:
                os.rename(folder, repo / plan.name)
            result.models.append(
                WrittenModel(plan.name, version, texts[plan.name], plan.role, os.fspath(_file(plan.info)) if plan.info else None)
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
