"""The one runner interface shared by every backend (PyTorch, ONNX Runtime, TensorRT).

Modelled on Polygraphy's backends: a runner is activated (``load``), describes its inputs and
outputs, and ``run`` validates names, ranks, dtypes and shapes before calling the backend's
``_run_impl``, and records how long the call took. Subclasses must keep ``_run_impl`` safe to call
from several threads at once (or serialise internally).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..errors import InputError

# A fixed size, a symbolic name (``batch``), or unknown. typing.Union: the alias is evaluated at
# import, and X | Y needs Python 3.10.
Dim = Union[int, str, None]


@dataclass(frozen=True)
class TensorSpec:
    """Name, element type and shape of one model input or output."""

    name: str
    dtype: np.dtype
    shape: tuple[Dim, ...]

    @property
    def fixed_batch(self) -> int | None:
        """The leading (batch) dimension when the model fixes it; ``None`` when it is dynamic."""
        first = self.shape[0] if self.shape else None
        return first if isinstance(first, int) and first > 0 else None

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {np.dtype(self.dtype).name}[{dims}]"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": np.dtype(self.dtype).name, "shape": list(self.shape)}


@dataclass
class RunnerInfo:
    """What a runner actually uses: backend, device, providers, precision, library versions."""

    backend: str
    device: str = "cpu"
    details: dict[str, Any] = field(default_factory=dict)


class Runner(abc.ABC):
    """Load a model once, then ``run`` it many times; ``close`` releases it."""

    backend: str = "abstract"

    def __init__(self) -> None:
        self._loaded = False
        self.last_inference_time: float | None = None
        # close() waits for the calls in flight in other threads and refuses new ones meanwhile,
        # so no call finds its session released under it.
        self._state = threading.Condition()
        self._in_flight = 0
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------
    def load(self) -> Runner:
        with self._state:
            if not self._loaded:
                self._load_impl()
                self._loaded = True
        return self

    def close(self) -> None:
        with self._state:
            self._closing = True
            try:
                while self._in_flight:
                    self._state.wait()
                if self._loaded:
                    self._close_impl()
                    self._loaded = False
            finally:
                self._closing = False
                self._state.notify_all()

    def __enter__(self) -> Runner:
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    # -- metadata ----------------------------------------------------------------------------
    # Backends that know their I/O once loaded fill these in ``_load_impl``; a backend that must
    # compute them (the PyTorch runner) overrides the properties.
    _inputs: list[TensorSpec]
    _outputs: list[TensorSpec]

    @property
    def inputs(self) -> list[TensorSpec]:
        """The model's inputs (loads the runner first)."""
        if not self._loaded:
            self.load()
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        """The model's outputs (loads the runner first)."""
        if not self._loaded:
            self.load()
        return list(self._outputs)

    @property
    def artifact(self) -> Any:
        """What the loaded artifact records (:class:`edgeattn.artifact.ArtifactInfo`: input, preprocessing,
        precision, provenance), read from what the backend already loaded (an ONNX Runtime session's
        metadata, an engine's sidecar), so a service never parses the model file again; None when
        the backend has no record (a PyTorch model)."""
        if not self._loaded:
            self.load()
        if not hasattr(self, "_artifact_cache"):
            self._artifact_cache = self._read_artifact()
        return self._artifact_cache

    @property
    def preprocessing(self) -> Any:
        """The artifact's recorded :class:`~edgeattn.artifact.Preprocessing` (None when none is recorded):
        ``runner.preprocessing(image)`` turns an image into the model's input tensor."""
        info = self.artifact
        return info.preprocessing if info is not None else None

    def _read_artifact(self) -> Any:
        """The backend's record of the artifact (override); called once, after load."""
        return None

    def info(self) -> RunnerInfo:
        return RunnerInfo(backend=self.backend)

    # Set by ``load(backend="auto")`` for an ``.onnx`` path: why this backend was picked
    # (:class:`edgeattn.runtime.auto_backend.BackendSelection`); None otherwise.
    selection: Any = None

    def report_info(self) -> dict[str, Any]:
        """What reports record about the runner: :meth:`info` flattened, plus ``selection`` when
        ``auto`` chose the backend (``bench`` and ``validate --json`` write this)."""
        info = self.info()
        record: dict[str, Any] = {"backend": info.backend, "device": info.device, **info.details}
        if self.selection is not None:
            record["selection"] = self.selection.to_dict()
        return record

    # -- inference ---------------------------------------------------------------------------
    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Run one inference; ``inputs`` by name, positionally, or a single array.

        Safe while another thread calls :meth:`close`: that waits for this call; a call started
        while the runner is closing is refused."""
        with self._state:
            if self._closing:
                raise InputError(f"{self.backend} runner: run() called while close() is in progress")
            if not self._loaded:
                self._load_impl()
                self._loaded = True
            self._in_flight += 1
        try:
            feed = self.check_inputs(inputs)
            start = time.perf_counter()
            outputs = self._run_impl(feed)
            self.last_inference_time = time.perf_counter() - start
            return outputs
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()

    def check_inputs(
        self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray] | np.ndarray
    ) -> dict[str, np.ndarray]:
        """Match ``inputs`` to the model's input specs; raise :class:`InputError` naming both."""
        specs = self.inputs
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if not isinstance(inputs, Mapping):
            arrays = list(inputs)
            if len(arrays) != len(specs):
                raise InputError(
                    f"received {len(arrays)} input array(s), expected {len(specs)}: "
                    + "; ".join(s.describe() for s in specs)
                )
            inputs = {spec.name: arr for spec, arr in zip(specs, arrays)}
        expected = {s.name for s in specs}
        unknown = sorted(set(inputs) - expected)
        missing = sorted(expected - set(inputs))
        if unknown or missing:
            raise InputError(
                f"input names do not match: received {sorted(inputs)}, expected {sorted(expected)}"
                + (f" (unknown: {unknown})" if unknown else "")
                + (f" (missing: {missing})" if missing else "")
            )
        feed: dict[str, np.ndarray] = {}
        for spec in specs:
            feed[spec.name] = _check_one(spec, inputs[spec.name])
        return feed

    @abc.abstractmethod
    def _load_impl(self) -> None: ...

    @abc.abstractmethod
    def _run_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def _close_impl(self) -> None:  # noqa: B027 - optional hook
        pass


def random_input(runner: Runner, path: Any = None, batch_size: int = 1, seed: int = 0) -> tuple[str, np.ndarray]:
    """A random batch for the runner's first input, for timing and profiling (values do not matter).

    A fixed batch dimension is kept, a symbolic one becomes ``batch_size``; symbolic C/H/W come
    from the artifact's recorded input size (:class:`edgeattn.artifact.ArtifactInfo` of ``path``).
    """
    spec = runner.inputs[0]
    dims = [d if isinstance(d, int) and d > 0 else None for d in spec.shape]
    batch = dims[0] if dims and dims[0] is not None else batch_size
    rest = [d for d in dims[1:] if d is not None]
    if len(rest) < len(dims) - 1:
        from ..artifact import ArtifactInfo

        size = ArtifactInfo.read(path).input_size if path is not None else None
        if size is None:
            raise InputError(f"cannot tell the input size of {spec.describe()}", hint="the artifact records no input size")
        rest = list(size)
    return spec.name, np.random.default_rng(seed).standard_normal([batch, *rest]).astype(spec.dtype)


def _check_one(spec: TensorSpec, value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise InputError(f"input {spec.name!r}: cannot convert {type(value).__name__} to an array") from exc
    if value.ndim != len(spec.shape):
        raise InputError(
            f"input {spec.name!r}: received rank {value.ndim} shape {list(value.shape)}, "
            f"expected rank {len(spec.shape)} ({spec.describe()})"
        )
    for axis, (got, want) in enumerate(zip(value.shape, spec.shape)):
        if isinstance(want, int) and want >= 0 and got != want:
            raise InputError(
                f"input {spec.name!r}: received shape {list(value.shape)}, expected {spec.describe()} "
                f"(axis {axis} must be {want}){_layout_hint(spec, value.shape)}"
            )
    want_dtype = np.dtype(spec.dtype)
    if value.dtype != want_dtype:
        if want_dtype == np.uint8 and value.dtype.kind == "f":
            raise InputError(
                f"input {spec.name!r}: received dtype {value.dtype.name}, expected uint8 (this artifact takes "
                "pixels and normalises them in its graph: pass the resized uint8 image, runner.preprocessing does that)"
            )
        if want_dtype.kind == "f" and value.dtype.kind in "biu":
            # uint8 casts to float32 "safely", but an image batch that is not scaled and normalised
            # gives wrong answers without any error: refuse it and say what to do.
            raise InputError(
                f"input {spec.name!r}: received dtype {value.dtype.name}, expected {want_dtype.name} "
                "(integer pixels must be scaled and normalised first: the artifact's preprocessing, "
                "edgeattn.data.Preprocessing, does that)"
            )
        # Float data of another width is cast (float16 or float64 into a float32 model);
        # anything else is refused.
        if value.dtype.kind == "f" and want_dtype.kind == "f":
            value = value.astype(want_dtype)
        elif np.can_cast(value.dtype, want_dtype, casting="safe"):
            value = value.astype(want_dtype)
        else:
            raise InputError(
                f"input {spec.name!r}: received dtype {value.dtype.name}, expected {want_dtype.name}"
            )
    return np.ascontiguousarray(value)


_CHANNELS = (1, 3, 4)  # what an image input's channel axis holds; tells NCHW from NHWC specs


def _layout_hint(spec: TensorSpec, shape: tuple[int, ...]) -> str:
    """A hint when a rank-4 batch has its channels on the other side from the model's input:
    NHWC given to an NCHW input, or NCHW given to an NHWC input (``export --input-layout nhwc``)."""
    if len(shape) != 4 or len(spec.shape) != 4:
        return ""
    first, last = spec.shape[1], spec.shape[3]
    if first in _CHANNELS and last not in _CHANNELS and shape[3] == first and shape[1] != first:
        return "; the batch looks like NHWC (channels last): transpose it with x.transpose(0, 3, 1, 2)"
    if last in _CHANNELS and first not in _CHANNELS and shape[1] == last and shape[3] != last:
        return "; the batch looks like NCHW (channels first) but this input is NHWC: transpose it with x.transpose(0, 2, 3, 1)"
    return ""
