"""What a model source string names, without importing anything it names (no torch either).

The grammar is the one ``edgeattn.models.load_model`` accepts (see ``models.sources``). Knowing the
kind before loading lets callers refuse sources that would run code: a ``file.py:factory`` or
``package.module:factory`` imports and calls Python, a saved model file is unpickled or
``torch.jit.load``-ed. Registry names and ``timm:``/``torchvision:`` build an architecture from
installed code only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KINDS = ("timm", "torchvision", "file_factory", "module_factory", "file", "registry")


@dataclass(frozen=True)
class SourceSpec:
    text: str
    kind: str
    #: the file or dotted module a factory lives in, the saved model file, or the library model name
    target: str
    factory: str | None = None

    @property
    def runs_user_code(self) -> bool:
        """True when loading imports or unpickles something outside the installed libraries."""
        return self.kind in ("file_factory", "module_factory", "file")

    @property
    def path(self) -> Path | None:
        """The file a ``file.py:factory`` or saved-model source reads."""
        return Path(self.target) if self.kind in ("file_factory", "file") else None


def is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def is_file(text: str | os.PathLike[str]) -> bool:
    """``Path.is_file`` for a name from a user or an artifact: a name too long for the file system
    or one holding a NUL byte is not a file here (pathlib raises OSError/ValueError for those)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def parse_source(text: str) -> SourceSpec:
    """Classify ``text`` in the order ``load_model`` tries: library prefix, factory, file, registry."""
    if text.startswith("timm:"):
        return SourceSpec(text, "timm", text[5:])
    if text.startswith("torchvision:"):
        return SourceSpec(text, "torchvision", text[12:])
    if ":" in text and not is_file(text):
        target, _, factory = text.rpartition(":")
        if target.endswith(".py") or "/" in target or os.sep in target:
            return SourceSpec(text, "file_factory", target, factory)
        if is_dotted_name(target) and factory.isidentifier():
            return SourceSpec(text, "module_factory", target, factory)
    if is_file(text):
        return SourceSpec(text, "file", text)
    return SourceSpec(text, "registry", text)
