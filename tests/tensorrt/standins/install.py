"""Install a stand-in ``tensorrt`` module and a stand-in libcudart for one test (API usage only).

``tensorrt`` goes into ``sys.modules``; libcudart is what :mod:`edgeattn.platform.cuda` opens in
place of ``ctypes.CDLL``, searched under the plain sonames only (not this machine's folders). A
meta-path finder placed first records every import of ``tensorrt*``/``cuda*`` that is not served
from ``sys.modules`` and refuses it, so tests can assert that cuda-python is never imported.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

from .cuda_standin import make_opener
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
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    from edgeattn.platform import cuda

    monkeypatch.setattr(cuda, "_dlopen", make_opener(world))
    monkeypatch.setattr(cuda, "candidate_paths", lambda *a, **k: list(cuda.SONAMES))
    monkeypatch.setattr(cuda, "_RUNTIME", None)
    finder = _RecordingFinder(world)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    return mods
