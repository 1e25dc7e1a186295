"""The shared state of one stand-in session: recorded calls, fake GPU, knobs for failure paths.

Stand-ins verify API usage, not TensorRT's behaviour (see the package docstring).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Callable


class ContractViolation(AssertionError):
    """The code under test used the API in an order or way the real library rejects."""


@dataclass
class Stream:
    handle: int
    pending: list[Callable[[], None]] = field(default_factory=list)
    capturing: list[Callable[[], None]] | None = None


@dataclass
class World:
    trt_generation: str | None = "10.16"
    cuda_generation: str | None = "13"  # the libcudart found: "11" (11.4), "12", "13"; None: none
    runtime_version: int | None = None  # cudaRuntimeGetVersion; None: by generation (11040, 12060, 13000)
    driver_version: int = 13000  # the driver's CUDA version (JetPack 5.1: 11040, 6.x: 12020/12060)
    device_count: int = 1
    gpu_name: str = "Standin GPU"
    compute_capability: tuple[int, int] = (8, 7)
    num_dla_cores: int = 0
    parser_errors: list[dict[str, Any]] = field(default_factory=list)  # make parse fail
    build_error: str | None = None  # make build_serialized_network return None
    plugins: list[str] = field(default_factory=list)  # plugin creators registered with TensorRT
    during_build: Callable[[], None] | None = None  # e.g. another process writing the timing cache
    fail_stream_create_at: int | None = None  # the n-th cudaStreamCreate (1-based) fails
    fail_allocations_after: int | None = None
    lean_runtime_available: bool = True  # Runtime.load_runtime finds libnvinfer_lean.so
    timing_cache_mismatch: bool = False  # set_timing_cache returns False for a non-empty cache
    capture_unsupported: bool = False  # execute_async_v3 returns False while capturing
    inspector_layers: bool = True
    calls: list[tuple[str, tuple, dict]] = field(default_factory=list)
    import_attempts: list[str] = field(default_factory=list)
    streams: dict[int, Stream] = field(default_factory=dict)
    memory: dict[int, Any] = field(default_factory=dict)  # address -> ctypes buffer
    graphs: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    next_handle: int = 0x1000
    streams_created: int = 0

    def record(self, name: str, args: tuple = (), kwargs: dict | None = None) -> None:
        self.calls.append((name, args, dict(kwargs or {})))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def index(self, name: str, start: int = 0) -> int:
        return self.names().index(name, start)

    def count(self, name: str) -> int:
        return self.names().count(name)

    def alloc(self, nbytes: int) -> int:
        buf = (ctypes.c_uint8 * max(int(nbytes), 1))()
        addr = ctypes.addressof(buf)
        self.memory[addr] = buf
        return addr

    def free(self, addr: int) -> None:
        if int(addr) not in self.memory:
            raise ContractViolation(f"free of unknown address {addr:#x}")
        del self.memory[int(addr)]

    def new_handle(self) -> int:
        self.next_handle += 0x10
        return self.next_handle

    def enqueue(self, stream_handle: int, op: Callable[[], None]) -> None:
        stream = self.streams.get(int(stream_handle))
        if stream is None:
            raise ContractViolation(f"work enqueued on unknown stream {stream_handle!r}")
        if stream.capturing is not None:
            stream.capturing.append(op)
        else:
            stream.pending.append(op)

    def drain(self, stream_handle: int) -> None:
        stream = self.streams[int(stream_handle)]
        if stream.capturing is not None:
            raise ContractViolation("cudaStreamSynchronize on a stream that is capturing")
        ops, stream.pending = stream.pending, []
        for op in ops:
            op()
