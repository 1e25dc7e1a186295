"""Resolve a model source to an ``nn.Module``, load a checkpoint into it, say what was loaded.

``load_model`` returns a :class:`LoadedModel`: the module and what travels with it (the source
string, the preprocessing its weights expect, the checkpoint's load report), as plain fields
rather than attributes hidden on the module.

A source is one of (tried in this order):
- an ``nn.Module`` (used as is);
- ``timm:NAME`` / ``torchvision:NAME`` (architecture only, no download: weights come from the
  checkpoint);
- ``path/to/file.py:factory`` or ``package.module:factory``: a callable returning an ``nn.Module``,
  called with ``num_classes=`` when given;
- a file: a TorchScript archive (``torch.jit.load``) or, with ``unsafe_pickle``, a whole pickled
  model; a file of plain weights is refused with a hint to name the architecture;
- a registry name (``se_resnet50``).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from torch import nn

from ..errors import CheckpointError, InputError, ModelSourceError, UntrustedSourceError
from ._registry import create_model, is_registered, unknown_model_error
from ..artifact import Preprocessing
from .config import input_config
from .source_spec import parse_source

if TYPE_CHECKING:
    from .checkpoint import LoadReport


@dataclass
class LoadedModel:
    """A model and what travels with it to export and validation.

    ``source``: the source string it was loaded from (the export's provenance; ``None`` for a
    module built by the caller); ``input``: the preprocessing its weights expect (``None`` when the
    model's own config is not a usable recipe); ``checkpoint_report``: what loading the checkpoint
    did (``None`` without one).
    """

    module: nn.Module
    source: Optional[str] = None
    input: Optional[Preprocessing] = None
    checkpoint_report: Optional[LoadReport] = None


def load_model(
    source: str | os.PathLike[str] | nn.Module | LoadedModel,
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    unsafe_pickle: bool = False,
    strict: bool = True,
    prefer_ema: bool = True,
    num_classes: int | None = None,
    allow_nonfinite: bool = False,
    **model_kwargs: Any,
) -> LoadedModel:
    """Build or load the model named by ``source`` (see module docstring), load ``checkpoint``.

    ``num_classes=None`` keeps the architecture's default, except that a checkpoint whose
    classifier has another class count rebuilds the model with that count (registry, timm,
    torchvision and factories that accept ``num_classes``). The module is in eval mode. A given
    ``nn.Module`` or :class:`LoadedModel` is used as is (the checkpoint loaded into it).
    """
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    spec: str | None = None
    recipe: Preprocessing | None = None
    if isinstance(source, LoadedModel):
        model, rebuild, spec, recipe = source.module, None, source.source, source.input
    elif isinstance(source, nn.Module):
        model, rebuild = source, None
    elif isinstance(source, (str, os.PathLike)):
        spec = os.fspath(source).strip()
        if not spec:
            raise ModelSourceError("empty model source", hint="give a registry name, timm:NAME, file.py:factory, ...")
        model, rebuild, recipe = _resolve(spec, num_classes, unsafe_pickle, model_kwargs)
    else:
        raise InputError(f"model source must be a string, a path or an nn.Module, got {type(source).__name__}")
    if recipe is None:
        # Read before a rebuild for another class count, which keeps the recipe.
        try:
            recipe = input_config(model)
        except InputError:  # a pretrained_cfg that is no recipe (wrong types, unknown interpolation)
            recipe = None
    report = None
    if checkpoint is not None:
        model, report = _load_weights(model, rebuild, checkpoint, num_classes, unsafe_pickle, strict, prefer_ema, allow_nonfinite)
    return LoadedModel(model.eval(), spec, recipe, report)


def _load_weights(
    model: nn.Module,
    rebuild: Callable[..., nn.Module] | None,
    checkpoint: str | os.PathLike[str],
    num_classes: int | None,
    unsafe_pickle: bool,
    strict: bool,
    prefer_ema: bool,
    allow_nonfinite: bool,
) -> tuple[nn.Module, LoadReport]:
    from .checkpoint import classes_in_checkpoint, load_state_dict_into, read_state_dict
    from .convert import se_width_options

    state_dict, container = read_state_dict(checkpoint, unsafe_pickle=unsafe_pickle, prefer_ema=prefer_ema)
    if rebuild is not None:
        classes = classes_in_checkpoint(model, state_dict) if num_classes is None else None
        # A zoo SE-ResNet is rebuilt with the checkpoint's SE width rule (senet.pytorch: C // r).
        options = se_width_options(model, state_dict) if _takes_options(rebuild) else {}
        if classes is not None or options:
            model = rebuild(classes or getattr(model, "num_classes", num_classes or 1000), **options)
    report = load_state_dict_into(
        model, state_dict, strict=strict, allow_nonfinite=allow_nonfinite, container=container, path=os.fspath(checkpoint)
    )
    return model, report


def _takes_options(rebuild: Callable[..., nn.Module]) -> bool:
    """Whether ``rebuild`` accepts model options besides the class count (registry models do)."""
    import inspect

    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(rebuild).parameters.values())


def _resolve(
    spec: str, num_classes: int | None, unsafe_pickle: bool, kwargs: dict[str, Any]
) -> tuple[nn.Module, Callable[..., nn.Module] | None, Preprocessing | None]:
    """The module, how to rebuild it for another class count (registry models: and options read
    from the checkpoint), and its recipe when the source knows it better than the module does
    (torchvision's weights transforms)."""
    parsed = parse_source(spec)
    if parsed.kind == "timm":
        return (*_from_timm(parsed.target, num_classes, kwargs), None)
    if parsed.kind == "torchvision":
        return _from_torchvision(parsed.target, num_classes, kwargs)
    if parsed.kind == "file_factory":
        return (*_from_file_factory(parsed.target, parsed.factory or "", num_classes, kwargs), None)
    if parsed.kind == "module_factory":
        return (*_from_module_factory(parsed.target, parsed.factory or "", num_classes, kwargs), None)
    path = Path(spec)
    if path.is_file():
        if kwargs:
            raise InputError(f"model options {sorted(kwargs)} cannot be applied to a saved model file {spec}")
        return _from_file(path, num_classes, unsafe_pickle), None, None
    if path.is_dir():
        raise ModelSourceError(
            f"model {spec} is a directory; expected a registry name, timm:NAME, torchvision:NAME, "
            "file.py:factory or a model file",
            hint="for weights, name the architecture and pass the file inside as --checkpoint",
        )
    if is_registered(spec):
        def build(classes: int, **options: Any) -> nn.Module:
            # Options the user gave win over those read from a checkpoint (se_width).
            return create_model(spec, num_classes=classes, **{**options, **kwargs})

        return build(num_classes or 1000), build, None
    if spec.endswith((".pt", ".pth", ".ts", ".pt2", ".safetensors", ".bin")) or "/" in spec:
        raise ModelSourceError(f"model file not found: {spec}", hint="check the path")
    raise unknown_model_error(spec)


def _build_first(build: Callable[[int | None], nn.Module], num_classes: int | None, what: str) -> nn.Module:
    """The first build of a third-party model; a class count the user chose is checked against memory."""
    if num_classes is None:
        return build(None)
    from .footprint import build_checked

    return build_checked(lambda: build(num_classes), f"model {what} with {num_classes} classes")


def _with_classes(kwargs: dict[str, Any], num_classes: int | None) -> dict[str, Any]:
    return {**kwargs, "num_classes": num_classes} if num_classes is not None else dict(kwargs)


# ------------------------------------------------------------------------------- timm/torchvision
def _from_timm(name: str, num_classes: int | None, kwargs: dict[str, Any]) -> tuple[nn.Module, Callable[[int], nn.Module]]:
    try:
        import timm
    except ImportError as exc:
        raise ModelSourceError(
            f"timm:{name} needs the timm package, which is not importable ({exc})",
            hint="pip install 'edgeattn[thirdparty]' (timm needs a matching torchvision)",
        ) from None
    if not name:
        raise ModelSourceError("timm: needs a model name, e.g. timm:seresnet50")
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        raise ModelSourceError(
            f"timm has no model {name!r}",
            hint=f"did you mean {', '.join(close)}?" if close else "see timm.list_models()",
        )

    def build(classes: int | None) -> nn.Module:
        try:
            # pretrained=False: nothing is downloaded; weights come from --checkpoint.
            return timm.create_model(name, pretrained=False, **_with_classes(kwargs, classes))
        except TypeError as exc:
            raise ModelSourceError(f"timm:{name} does not accept these options: {exc}") from None

    return _build_first(build, num_classes, f"timm:{name}"), build


def _from_torchvision(
    name: str, num_classes: int | None, kwargs: dict[str, Any]
) -> tuple[nn.Module, Callable[[int], nn.Module], Preprocessing | None]:
    try:
        import torchvision
        from torchvision import models as tvm
    except ImportError as exc:
        raise ModelSourceError(
            f"torchvision:{name} needs the torchvision package, which is not importable ({exc})",
            hint="pip install 'edgeattn[thirdparty]' with the torch version pinned in the README",
        ) from None
    available = tvm.list_models(module=tvm)
    if name not in available:
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        raise ModelSourceError(
            f"torchvision has no classification model {name!r}",
            hint=f"did you mean {', '.join(close)}?" if close else "see torchvision.models.list_models()",
        )
    config = _torchvision_config(tvm, name)

    def build(classes: int | None) -> nn.Module:
        try:
            model = tvm.get_model(name, weights=None, **_with_classes(kwargs, classes))
        except (TypeError, ValueError) as exc:
            raise ModelSourceError(f"torchvision:{name} does not accept these options: {exc}") from None
        return model

    del torchvision
    return _build_first(build, num_classes, f"torchvision:{name}"), build, config


def _torchvision_config(tvm: Any, name: str) -> Preprocessing | None:
    """Preprocessing of the model's default weights (resize, crop, mean/std), without downloading."""
    try:
        weights = tvm.get_model_weights(name).DEFAULT
        transform = weights.transforms()
        crop = transform.crop_size[0]
        resize = transform.resize_size[0]
        interpolation = getattr(transform.interpolation, "value", str(transform.interpolation))
        return Preprocessing(
            input_size=(3, int(crop), int(crop)),
            mean=tuple(float(v) for v in transform.mean),
            std=tuple(float(v) for v in transform.std),
            interpolation=str(interpolation),
            crop_pct=float(crop) / float(resize),
            channel_order="RGB",
            source="torchvision",
        )
    except Exception:  # noqa: BLE001 - models without registered weights use the default config
        return None


# ----------------------------------------------------------------------------------- factories
def _call_factory(
    fn: Any, where: str, num_classes: int | None, kwargs: dict[str, Any]
) -> tuple[nn.Module, Callable[[int], nn.Module]]:
    if not callable(fn):
        raise ModelSourceError(f"{where} is a {type(fn).__name__}, not a callable returning an nn.Module")

    def build(classes: int | None) -> nn.Module:
        try:
            model = fn(**_with_classes(kwargs, classes))
        except TypeError as exc:
            if classes is not None and "num_classes" in str(exc):
                raise ModelSourceError(
                    f"{where} does not accept num_classes ({exc})",
                    hint="add a num_classes parameter to the factory, or leave num_classes unset",
                ) from None
            raise ModelSourceError(f"calling {where} failed: {exc}") from None
        except UntrustedSourceError:
            raise  # a pinned sibling module refused (file_imports): the refusal is the message
        except Exception as exc:  # noqa: BLE001 - user code may raise anything
            raise ModelSourceError(f"calling {where} failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise ModelSourceError(f"{where} returned a {type(model).__name__}, expected a torch.nn.Module")
        return model

    return build(num_classes), build


def _from_file_factory(
    file: str, factory: str, num_classes: int | None, kwargs: dict[str, Any]
) -> tuple[nn.Module, Callable[[int], nn.Module]]:
    path = Path(file)
    if not path.is_file():
        raise ModelSourceError(f"model file not found: {file}", hint="the form is path/to/file.py:factory")
    if not factory.isidentifier():
        raise ModelSourceError(f"{factory!r} is not a Python name; the form is path/to/file.py:factory")
    from .file_imports import active_pin, load_pinned_file

    module_name = f"edgeattn_user_{abs(hash(str(path.resolve())))}"
    folder = str(path.resolve().parent)
    digest = active_pin(path)  # set when validate runs a source recorded in an artifact
    try:
        with _on_sys_path(folder):
            if digest is not None:
                module = load_pinned_file(path, digest, module_name)
            else:
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None or spec.loader is None:
                    raise ModelSourceError(f"cannot import {file} as Python source")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
    except (ModelSourceError, UntrustedSourceError):
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:  # noqa: BLE001 - user code
        sys.modules.pop(module_name, None)
        raise ModelSourceError(f"importing {file} failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(module, factory):
        names = [n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ModelSourceError(
            f"{file} has no {factory!r}", hint=f"callables in it: {', '.join(names[:8]) or 'none'}"
        )
    fn = getattr(module, factory)
    if not callable(fn):
        return _call_factory(fn, f"{file}:{factory}", num_classes, kwargs)

    @functools.wraps(fn)
    def in_its_folder(*args: Any, **kw: Any) -> Any:
        # Research code often imports its sibling modules inside the factory (`from helper import
        # ...` in `def build():`), so the folder stays importable while the factory runs too.
        with _on_sys_path(folder):
            return fn(*args, **kw)

    return _call_factory(in_its_folder, f"{file}:{factory}", num_classes, kwargs)


@contextlib.contextmanager
def _on_sys_path(folder: str) -> Iterator[None]:
    """``folder`` first on ``sys.path`` for the block, as ``python file.py`` would have it."""
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _from_module_factory(
    module_name: str, factory: str, num_classes: int | None, kwargs: dict[str, Any]
) -> tuple[nn.Module, Callable[[int], nn.Module]]:
    # Like `python -m`, the working directory is importable (a console script does not add it).
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ModelSourceError(
            f"cannot import module {module_name!r} ({exc})",
            hint="the form is package.module:factory, importable from the current directory or the environment",
        ) from None
    except Exception as exc:  # noqa: BLE001 - user code
        raise ModelSourceError(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    if not hasattr(module, factory):
        raise ModelSourceError(f"module {module_name} has no {factory!r}")
    return _call_factory(getattr(module, factory), f"{module_name}:{factory}", num_classes, kwargs)


# --------------------------------------------------------------------------------- saved models
def _from_file(path: Path, num_classes: int | None, unsafe_pickle: bool) -> nn.Module:
    from .checkpoint import ARTIFACT_SUFFIXES, _first_line, extract_state_dict, is_torchscript_archive, jit_load, read_checkpoint

    if path.suffix.lower() in ARTIFACT_SUFFIXES:
        raise ModelSourceError(
            f"{path} is an exported artifact, not a PyTorch model source",
            hint="PyTorch sources: registry name, timm:NAME, torchvision:NAME, file.py:factory, TorchScript; "
            "run exported artifacts with edgeattn validate/bench",
        )
    if num_classes is not None:
        raise InputError(
            f"num_classes cannot change a saved model ({path}); it applies to registry, timm, torchvision "
            "and factory sources"
        )
    if is_torchscript_archive(path):
        try:
            return jit_load(path)
        except Exception as exc:  # noqa: BLE001
            raise ModelSourceError(f"cannot load TorchScript archive {path}: {_first_line(exc)}") from None
    try:
        obj = read_checkpoint(path, unsafe_pickle=unsafe_pickle)
    except CheckpointError as exc:
        raise ModelSourceError(exc.message, hint=exc.hint) from None
    if isinstance(obj, nn.Module):
        return obj
    for key in ("model", "model_ema", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(key), nn.Module):
            return obj[key]
    try:
        extract_state_dict(obj, path=str(path))
    except CheckpointError:
        raise ModelSourceError(f"{path} is neither a TorchScript archive nor a saved nn.Module") from None
    raise ModelSourceError(
        f"{path} holds weights only, not a model",
        hint=f"name the architecture and pass the file as the checkpoint: edgeattn inspect se_resnet50 --checkpoint {path}",
    )
