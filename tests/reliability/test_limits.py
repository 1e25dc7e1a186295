"""Issue 13 item 5: threads bounded to the machine, memory estimated before allocating, random
inputs drawn in float32, and a .npy header that claims more than the file holds refused unread."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from edgeattn.data import load_samples, random_samples
from edgeattn.errors import InputError
from edgeattn.platform import memory


def test_threads_beyond_the_machine_are_refused(tiny_model: Path) -> None:
    from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner

    with pytest.raises(InputError, match=r"threads: received 100000, expected 1\.\.\d+"):
        OnnxRuntimeRunner(tiny_model, threads=100000)
    OnnxRuntimeRunner(tiny_model, threads=1).close()


def test_allocation_beyond_available_memory_says_asked_and_available(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    with pytest.raises(InputError, match=r"needs about 2\.2 GB of memory; 1\.0 GB is available"):
        random_samples((3, 224, 224), 4000)


def test_random_inputs_are_drawn_in_float32() -> None:
    tracemalloc.start()
    try:
        samples = random_samples((3, 64, 64), 64, seed=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples.arrays.dtype == np.float32
    assert peak < 1.5 * samples.arrays.nbytes  # a float64 draw would peak at 3x
    assert -2.0 <= samples.arrays.min() and samples.arrays.max() < 2.0


def test_npy_header_claiming_tebibytes_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 3, 8, 8), np.float32))
    header["shape"] = (1_000_000, 3, 1000, 1000)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 1024)
    with pytest.raises(InputError, match=r"header claims .* \(10\.9 TB\) but the file holds 1\.0 KB"):
        load_samples(path, (3, 1000, 1000))


# --------------------------------------------------------------- model size and activations
def test_class_count_beyond_memory_is_refused_before_building(monkeypatch) -> None:
    from edgeattn.models import create_model

    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    # se_resnet_tiny's classifier takes 128 features: 10M classes are >= 128 * 1e7 * 4 bytes = 4.77 GiB.
    with pytest.raises(InputError, match=r"se_resnet_tiny with 10000000 classes .*needs about (4\.[89]|[5-9]\.\d) GB of memory; 1\.0 GB"):
        create_model("se_resnet_tiny", num_classes=10_000_000)
    assert create_model("se_resnet_tiny", num_classes=10).fc.out_features == 10


def test_third_party_class_count_is_checked_too() -> None:
    pytest.importorskip("torchvision")
    from edgeattn.models import load_model

    # torchvision's resnet18 classifier: 512 * 1e9 float32 weights = 1.9 TB, beyond any test machine.
    with pytest.raises(InputError, match=r"torchvision:resnet18 with 1000000000 classes .*needs about 1\.\d TB"):
        load_model("torchvision:resnet18", num_classes=1_000_000_000)


def test_forward_estimate_is_input_plus_two_largest_activations() -> None:
    import torch

    from edgeattn.models.footprint import forward_bytes

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))
    # input 3*16*16*4 = 3072 bytes; conv and ReLU outputs 8*16*16*4 = 8192 each; pool output 32.
    assert forward_bytes(model, (1, 3, 16, 16)) == 3072 + 8192 + 8192
    assert model[0].weight.device.type == "cpu"  # the model itself is untouched


def test_forward_estimate_is_none_for_a_model_that_leaves_torch() -> None:
    import torch

    from edgeattn.models.footprint import forward_bytes

    class Numpyish(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(x.numpy() * 2)

    assert forward_bytes(Numpyish(), (1, 3, 8, 8)) is None
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1)))
    assert forward_bytes(scripted, (1, 3, 8, 8)) is None


def test_export_input_beyond_memory_is_refused_before_tracing(monkeypatch, tmp_path: Path) -> None:
    from edgeattn import export

    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    # The first conv alone outputs 16 * 4096 * 4096 * 4 bytes = 1 GB per image.
    with pytest.raises(InputError, match=r"export of \[1, 3, 8192, 8192\] \(traced with a batch of 2\) .*GB of memory; 1\.0 GB"):
        export("se_resnet_tiny", tmp_path / "big.onnx", input_shape=(1, 3, 8192, 8192))
    assert list(tmp_path.iterdir()) == []


def test_flop_count_fallback_checks_the_input_size(monkeypatch) -> None:
    import torch

    from edgeattn.models import model_profile

    class NoCopy(torch.nn.Conv2d):
        def __deepcopy__(self, memo):  # the meta FLOP count copies the model; the fallback runs it for real
            raise TypeError("cannot copy")

    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    with pytest.raises(InputError, match=r"the FLOP count at input \[1, 3, 20000, 20000\]"):
        model_profile(NoCopy(3, 4, 1), (3, 20000, 20000))


def test_graph_activations_per_sample_are_the_two_largest_intermediates(tmp_path: Path) -> None:
    from tests.tiny_onnx import save_tiny_classifier as tiny_onnx

    from edgeattn.graph.footprint import activation_bytes_per_sample

    # Conv output 4 x 8 x 8 float32 = 1024 bytes, pooled 4 x 1 x 1 = 16 bytes (logits is an output).
    assert activation_bytes_per_sample(tiny_onnx(tmp_path / "m.onnx")) == 1024 + 16


def test_bench_counts_activations_not_only_inputs(monkeypatch, tmp_path: Path) -> None:
    from tests.tiny_onnx import save_tiny_classifier as tiny_onnx

    from edgeattn.bench import benchmark

    model = tiny_onnx(tmp_path / "m.onnx", size=64)
    # Batch 1000: inputs 3*64*64*4 B * 1000 * 2 copies = 98 MB fit in 80 % of 150 MB; with the conv's
    # 4*64*64*4 B per sample (65.6 MB) they do not.
    monkeypatch.setattr(memory, "available_memory", lambda: 150 * 1000 * 1000)
    with pytest.raises(InputError, match=r"batch 1000 of inputs \[3, 64, 64\] .*needs about 156\.\d MB"):
        benchmark([model], batch_sizes=[1000], iterations=1, warmup=0)


@pytest.mark.parametrize(
    ("kind", "text", "out_of_memory"),
    [
        ("Fail", "[ONNXRuntimeError] : 1 : FAIL : bfc_arena.cc:360 AllocateRawInternal Failed to allocate memory for requested buffer", True),
        ("RuntimeError", "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 38400000000 bytes", True),
        ("RuntimeError", "shape '[1, 4]' is invalid for input of size 3", False),
    ],
)
def test_allocator_failures_are_reported_as_out_of_memory(kind: str, text: str, out_of_memory: bool) -> None:
    from edgeattn.cli._errors import describe_exception

    error = type(kind, (Exception,), {})(text)
    message, _ = describe_exception(error)
    assert (message == "out of memory") is out_of_memory
