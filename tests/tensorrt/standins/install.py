"""Put a stand-in ``tensorrt`` and ``cuda`` into ``sys.modules`` for one test (API usage only).

A meta-path finder placed first records every import of ``tensorrt*``/``cuda*`` that is not
served from ``sys.modules`` and refuses it, so the real cuda-bindings in the venv stays hidden
and tests can assert e.g. that ``cuda.cudart`` is never imported on cuda-python 13.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

from .cuda_standin import cuda_modules
from .trt_standin import build_module
from .world import World


class _RecordingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, world: World) -> None:
        self.world = world

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        root = fullname.split(".")[0]
        if root in ("tensorrt", "cuda"):
            self.world.import_attempts.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def install(monkeypatch: Any, world: World) -> dict[str, Any]:
    """Install the stand-ins described by ``world``; returns the installed modules."""
    for name in list(sys.modules):
        if name == "tensorrt" or name.startswith(("tensorrt.", "cuda.")) or name == "cuda":
            monkeypatch.delitem(sys.modules, name, raising=False)
    mods: dict[str, Any] = {}
    if world.trt_generation is not None:
        mods["tensorrt"] = build_module(world, world.trt_generation)
    mods.update(cuda_modules(world))
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    finder = _RecordingFinder(world)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    return mods
