"""Against a real Triton Inference Server (the tritonserver binary of the nvidia-pytriton wheel,
installed into .triton/ by scripts/setup_triton.sh) on a repository written by edgeattn: the
trained digits CBAM network through the Python backend and the image-bytes ensemble, 200
requests from 8 threads over HTTP and over gRPC, every answer checked against a direct runner
call, dynamic batching confirmed from the server's own metrics."""

from __future__ import annotations

import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edgeattn.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"
pytestmark = pytest.mark.serving
REQUESTS, THREADS = 200, 8


def _triton_home() -> Path:
    home = Path(os.environ.get("EDGEATTN_TRITON_HOME") or ROOT / ".triton")
    if not (home / "pytriton" / "tritonserver" / "bin" / "tritonserver").is_file():
        pytest.skip(f"no Triton server in {home}: run scripts/setup_triton.sh")
    return home


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(ONNX path, held-out PNG paths) of the trained digits example."""
    from edgeattn.exporter import export

    work = tmp_path_factory.mktemp("digits_triton")
    spec = importlib.util.spec_from_file_location("digits_train", EXAMPLE / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    _, heldout = train.export_data(work / "data")
    onnx_path = work / "digits.onnx"
    export(f"{EXAMPLE / 'model.py'}:create", onnx_path, checkpoint=EXAMPLE / "digits_cbam.safetensors")
    return onnx_path, sorted(heldout.rglob("*.png"))


@pytest.fixture(scope="module")
def server(digits, tmp_path_factory):
    from edgeattn.serving import RepositoryOptions, TritonServer, write_repository

    home = _triton_home()
    repo = tmp_path_factory.mktemp("triton") / "repo"
    options = RepositoryOptions(
        name="digits", backend="python", max_batch=16, preferred_batch=(4, 8), queue_delay_us=2000,
        with_preprocessing=True, threads=1,
    )
    write_repository(repo, [digits[0]], options)
    with TritonServer(repo, home=home, ready_timeout=120) as triton:
        yield triton


@pytest.fixture(scope="module")
def reference(digits):
    import edgeattn

    with edgeattn.load(digits[0], threads=1) as runner:
        yield runner


def _clients(server, protocol):
    if protocol == "http":
        import tritonclient.http as module

        return module, (lambda: module.InferenceServerClient(server.http_url))
    import tritonclient.grpc as module

    return module, (lambda: module.InferenceServerClient(server.grpc_url))


def _hammer(server, protocol, model, make_inputs):
    """REQUESTS requests from THREADS threads, one client per thread; returns [(request index, logits)]."""
    module, new_client = _clients(server, protocol)
    local = threading.local()

    def one(index):
        if not hasattr(local, "client"):
            local.client = new_client()
        inputs = []
        for name, array, datatype in make_inputs(index):
            tensor = module.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        result = local.client.infer(model, inputs, outputs=[module.InferRequestedOutput("logits")])
        return index, result.as_numpy("logits")

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def _batches(server, model):
    from edgeattn.serving import batch_statistics

    return batch_statistics(server.metrics(), model)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_model_answers_match_the_runner_and_requests_are_batched(server, reference, protocol):
    rng = np.random.default_rng(1 if protocol == "http" else 2)
    # Requests of 1-3 samples each: the batcher must merge and split them correctly.
    batches = [rng.standard_normal((int(rng.integers(1, 4)), 1, 32, 32)).astype(np.float32) for _ in range(REQUESTS)]
    before = _batches(server, "digits")
    answers = _hammer(server, protocol, "digits", lambda i: [("input", batches[i], "FP32")])
    after = _batches(server, "digits")
    assert len(answers) == REQUESTS
    for index, logits in answers:
        expected = reference.run(batches[index])["logits"]
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    requests = after["requests"] - before["requests"]
    executions = after["executions"] - before["executions"]
    samples = after["inferences"] - before["inferences"]
    assert requests == REQUESTS and samples == sum(len(b) for b in batches)
    # Dynamic batching formed batches of several requests: fewer model executions than requests.
    assert executions < requests and requests / executions >= 1.5, (requests, executions, samples)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_ensemble_turns_png_bytes_into_the_same_answers(server, reference, digits, protocol):
    from edgeattn.data import Preprocessing

    images = digits[1][:REQUESTS]
    pre = Preprocessing.from_onnx(digits[0])
    payloads = [np.array([[path.read_bytes()]], dtype=object) for path in images]
    answers = _hammer(server, protocol, "digits_ensemble", lambda i: [("image", payloads[i], "BYTES")])
    for index, logits in answers:
        expected = reference.run(pre.load_image(images[index])[None])["logits"]
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    labels = np.array([int(path.parent.name) for path in images])
    predicted = np.array([logits.argmax() for _, logits in sorted(answers, key=lambda a: a[0])])
    assert (predicted == labels).mean() >= 0.95  # the trained network, served end to end


def test_a_bad_image_fails_only_its_request(server):
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    client = http.InferenceServerClient(server.http_url)
    tensor = http.InferInput("image", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"not an image"]], dtype=object))
    with pytest.raises(InferenceServerException, match="cannot decode image"):
        client.infer("digits_ensemble", [tensor])
    assert client.is_model_ready("digits_ensemble")


def test_port_in_use_is_an_input_error(server, tmp_path):
    from edgeattn.serving import TritonServer

    (tmp_path / "repo").mkdir()
    with pytest.raises(InputError, match=f"HTTP port {server.http_port} is in use"):
        TritonServer(tmp_path / "repo", home=_triton_home(), http_port=server.http_port).start()


def test_a_model_that_cannot_load_is_a_server_error_with_its_reason(tmp_path):
    from edgeattn.serving import ServerError, TritonServer

    home = _triton_home()
    folder = tmp_path / "repo" / "broken"
    (folder / "1").mkdir(parents=True)
    (folder / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 0\n'
                                         'input [{name: "x" data_type: TYPE_FP32 dims: [1]}]\n'
                                         'output [{name: "y" data_type: TYPE_FP32 dims: [1]}]\n')
    (folder / "1" / "model.py").write_text("raise RuntimeError('deliberately broken')\n")
    with pytest.raises(ServerError, match="exited with code 1 before it was ready") as info:
        TritonServer(tmp_path / "repo", home=home, ready_timeout=60).start()
    assert "broken" in str(info.value)


def test_bench_triton_times_the_served_model_at_each_concurrency(server):
    from edgeattn.bench.triton_client import benchmark_triton

    report = benchmark_triton(f"http://{server.http_url}", "digits", concurrency=(1, 4), batch_sizes=(2,), requests=40, warmup=2)
    rows = [(r.variant, r.backend, r.batch_size, r.stats.count, r.runner["requests"]) for r in report.results]
    assert rows == [("digits c=1", "triton-http", 2, 40, 40), ("digits c=4", "triton-http", 2, 40, 40)]
    for result in report.results:
        # Throughput is answered samples over wall time: about concurrency x batch / mean latency at
        # most. The bound is loose because the first and last requests of a level do not overlap
        # fully and a loaded machine skews the two clocks; it catches a wrong unit or count.
        level = result.runner["concurrency"]
        assert 0 < result.stats.throughput <= 1.5 * level * 2 * 1e3 / result.stats.mean_ms
    assert "server http://" in report.to_markdown() and "| digits c=4 | triton-http | 2 |" in report.to_markdown()


def test_bench_triton_cli_sends_images_to_the_ensemble_over_grpc(server, digits, tmp_path):
    import json

    from typer.testing import CliRunner

    from edgeattn.cli import app

    images = digits[1][0].parent.parent  # the held-out folder (one sub-folder per digit)
    result = CliRunner().invoke(app, ["bench", "--triton", f"grpc://{server.grpc_url}", "digits_ensemble",
                                      "--concurrency", "2", "--iterations", "20", "--warmup", "1", "--inputs", str(images), "--json",
                                      "--report-md", str(tmp_path / "t.md"), "--chart", str(tmp_path / "t.png")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(r["variant"], r["stats"]["count"]) for r in data["results"]] == [("digits_ensemble c=2", 20)]
    assert "| digits_ensemble c=2 | triton-grpc | 1 |" in (tmp_path / "t.md").read_text()
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    image = digits[1][0]
    clash = CliRunner().invoke(app, ["bench", "--triton", server.http_url, "digits_ensemble", "--inputs", str(images),
                                     "--report-md", str(image)])
    assert clash.exit_code == 1 and f"--report-md: received {image}, which is the input" in clash.output
    assert image.read_bytes()[:4] == b"\x89PNG"
    missing = CliRunner().invoke(app, ["bench", "--triton", server.http_url, "nope"])
    assert missing.exit_code == 1 and "Error: model 'nope' is not ready" in missing.output
    no_images = CliRunner().invoke(app, ["bench", "--triton", server.http_url, "digits_ensemble", "--iterations", "2"])
    assert no_images.exit_code == 1 and "takes encoded bytes: received no --inputs" in no_images.output
