"""Model registry: ``@register_model`` on a factory, ``create_model(name, ...)`` to build one.

Modelled on timm's registry: a factory takes ``num_classes`` and keyword options and returns an
``nn.Module`` in eval mode; registration records the attention type and a one-line description.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from os import PathLike
from typing import Any, Callable, TypeVar

from torch import nn

from ..errors import InputError, ModelSourceError

F = TypeVar("F", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its factory, attention type (``se``/``cbam``/``none``) and family."""

    name: str
    factory: Callable[..., nn.Module]
    attention: str
    family: str
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    fn: F | None = None, *, attention: str | None = None, family: str | None = None
) -> F | Callable[[F], F]:
    """Decorator registering a model factory under its function name.

    ``attention`` defaults to what the name says (``se_``/``cbam_`` prefix, else ``none``).
    """

    def decorate(factory: F) -> F:
        name = factory.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        kind = attention or ("se" if name.startswith("se_") else "cbam" if name.startswith("cbam_") else "none")
        doc = (factory.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(
            name=name,
            factory=factory,
            attention=kind,
            family=family or factory.__module__.rsplit(".", 1)[-1],
            description=doc[0] if doc else "",
        )
        return factory

    if fn is not None:
        return decorate(fn)
    return decorate


def _ensure_zoo_loaded() -> None:
    # Importing the family modules runs their @register_model decorators.
    from . import mobilenet, resnet  # noqa: F401


def list_models(attention: str | None = None) -> list[str]:
    """Registered model names, sorted; ``attention`` filters by ``se``/``cbam``/``none``."""
    _ensure_zoo_loaded()
    return sorted(n for n, e in _REGISTRY.items() if attention is None or e.attention == attention)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; ModelSourceError with close matches if unknown."""
    _ensure_zoo_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_model_error(name) from None


def unknown_model_error(name: str) -> ModelSourceError:
    """The error for a name the registry does not hold, with close matches as the hint."""
    _ensure_zoo_loaded()
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "run `edgeattn models` to list them"
    return ModelSourceError(
        f"unknown model {name!r}: not in the edgeattn registry ({len(_REGISTRY)} models)",
        hint=hint + "; timm/torchvision models are named timm:NAME / torchvision:NAME",
    )


def is_registered(name: str) -> bool:
    _ensure_zoo_loaded()
    return name in _REGISTRY


def create_model(
    name: str,
    num_classes: int = 1000,
    checkpoint: str | PathLike[str] | None = None,
    *,
    strict: bool = True,
    unsafe_pickle: bool = False,
    prefer_ema: bool = True,
    **kwargs: Any,
) -> nn.Module:
    """Build registry model ``name`` (eval mode), optionally loading ``checkpoint`` into it.

    Extra ``kwargs`` go to the model factory (e.g. ``reduction=8`` for the SE/CBAM models).
    """
    entry = model_entry(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    from .footprint import build_checked

    try:
        model = build_checked(lambda: entry.factory(num_classes=num_classes, **kwargs), f"model {name} with {num_classes} classes")
    except TypeError as exc:
        raise ModelSourceError(f"model {name!r} does not accept these options: {exc}") from None
    if checkpoint is not None:
        from .checkpoint import load_checkpoint

        load_checkpoint(model, checkpoint, strict=strict, unsafe_pickle=unsafe_pickle, prefer_ema=prefer_ema)
    return model.eval()
