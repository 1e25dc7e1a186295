"""examples/service: a FastAPI app over one artifact answers concurrent requests exactly as a direct
runner call on the artifact's recorded preprocessing does (issue 10 item 6)."""

from __future__ import annotations

import io
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on a free loopback port, serving se_resnet_tiny exported at 32x32."""
    import edgeattn

    folder = tmp_path_factory.mktemp("service")
    artifact = folder / "tiny.onnx"
    edgeattn.export("se_resnet_tiny", artifact, input_shape=(1, 3, 32, 32))
    sys.path.insert(0, str(ROOT / "examples" / "service"))
    try:
        from app import create_app
    finally:
        sys.path.remove(str(ROOT / "examples" / "service"))
    app = create_app(str(artifact), threads=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app.state.runner
    server.should_exit = True
    thread.join(timeout=30)


def _png(seed: int, size: tuple[int, int]) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_200_concurrent_requests_match_direct_runner_calls(served) -> None:
    url, runner = served
    # Sizes other than the model's: the recorded recipe resizes and crops them.
    uploads = [_png(i, (32 + i % 17, 40 + i % 23)) for i in range(200)]
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda body: client.post(f"{url}/predict", content=body), uploads))
    assert [r.status_code for r in responses] == [200] * 200
    name_in, name_out = runner.inputs[0].name, runner.outputs[0].name
    for body, response in zip(uploads, responses):
        direct = runner.run({name_in: runner.preprocessing(body)[None]})[name_out][0]
        served_logits = np.asarray(response.json()["logits"], dtype=np.float32)
        np.testing.assert_allclose(served_logits, direct, rtol=1e-6, atol=1e-6)
        assert response.json()["top"][0]["class"] == int(np.argmax(direct))


def test_a_bad_upload_is_a_415_with_the_reason(served) -> None:
    url, _ = served
    response = httpx.post(f"{url}/predict", content=b"this is not an image", timeout=30)
    assert response.status_code == 415
    assert "cannot read image (20 bytes)" in response.json()["detail"]


def test_health_reports_the_recorded_recipe(served) -> None:
    url, _ = served
    data = httpx.get(f"{url}/health", timeout=30).json()
    assert data["preprocessing"]["input_size"] == [3, 32, 32]
    assert data["input"]["shape"][1:] == [3, 32, 32]
