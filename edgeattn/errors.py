"""One exception hierarchy for edgeattn.

Every error a user can cause or fix derives from :class:`EdgeattnError`; the CLI prints it as a
single ``Error: ...`` line (plus ``hint``) and exits 1. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno

# errno -> the cause named in a one-line error.
_OS_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTDIR: "a parent of the path is a file, not a folder",
    errno.EISDIR: "is a directory, expected a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "a file of that name is in the way (is a parent of the path a file?)",
    errno.EMFILE: "too many open files",
}


def os_error_cause(exc: OSError) -> str:
    """The cause of an OS error in a few words (disk full, permission denied, name too long...)."""
    text = (exc.strerror or str(exc) or type(exc).__name__).strip().splitlines()
    return _OS_CAUSES.get(exc.errno or -1) or (text[0] if text else type(exc).__name__)


class EdgeattnError(Exception):
    """Base class: a handled failure with a one-line message and an optional hint."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(EdgeattnError, ValueError):
    """Bad user input: a wrong shape, name, option value, file type or tensor."""


class ModelSourceError(EdgeattnError):
    """A model specification (registry name, timm:, torchvision:, file.py:factory, TorchScript)
    could not be resolved to an ``nn.Module``."""


class CheckpointError(EdgeattnError):
    """A checkpoint is missing, unreadable, unsafe to unpickle, or does not fit the model."""


class ExportError(EdgeattnError):
    """Exporting, folding, simplifying or checking an ONNX graph failed."""


class QuantizationError(EdgeattnError):
    """FP16 conversion or INT8 quantization failed."""


class CalibrationError(QuantizationError, InputError):
    """Calibration data is missing, empty, unreadable or of the wrong shape."""


class BackendUnavailableError(EdgeattnError):
    """A runtime backend (ONNX Runtime, TensorRT, CUDA) is not installed or has no device."""


class MissingExtraError(BackendUnavailableError):
    """An optional dependency is not installed; the message names the extra that provides it."""


class EngineCompatibilityError(EdgeattnError):
    """A TensorRT engine was built for another TensorRT version, GPU or platform."""


class ParityError(EdgeattnError):
    """Parity validation could not be carried out (not: it ran and failed its tolerances)."""


class UntrustedSourceError(EdgeattnError):
    """An artifact names code to run (a model source) that the user has not allowed to run."""


class EdgeattnWarning(UserWarning):
    """Something the user asked for that works but deserves attention (non-strict load, unsafe
    unpickling, non-finite weights allowed). The CLI prints these as ``Warning: ...`` lines."""


class BackendWarning(EdgeattnWarning, RuntimeWarning):
    """A runtime runs, but not as asked (a missing execution provider, a fallback)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so every ``finally`` and atomic write
    unwinds the same way; the CLI exits 143 (128 + SIGTERM)."""
