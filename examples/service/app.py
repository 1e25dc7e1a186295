"""An image-classification service over one edgeattn artifact (FastAPI), without PyTorch.

    pip install "edgeattn[cpu,images]" fastapi uvicorn
    EDGEATTN_ARTIFACT=model.onnx uvicorn app:app --app-dir examples/service --workers 1

    curl --data-binary @cat.jpg -H "Content-Type: image/jpeg" localhost:8000/predict

One process, one runner shared by every request: ONNX Runtime's ``run`` is thread-safe and
FastAPI runs plain ``def`` endpoints on its thread pool, so concurrent requests run concurrently
on ``EDGEATTN_THREADS`` intra-op threads each (default 1: with N request threads that is N busy
cores; docs/runtime.md, "Threads and request concurrency"). The artifact's own preprocessing
(recorded at export, read from the loaded session) turns the upload into the input tensor, so
the service cannot drift from what the model was trained and validated with.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

import edgeattn
from edgeattn.errors import InputError


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def create_app(artifact: str, *, threads: int = 1, top_k: int = 5) -> FastAPI:
    """The app for ``artifact`` (an ONNX file or a TensorRT engine with its sidecar)."""
    # Concurrent requests need ONNX Runtime's thread-safe run: auto could pick OpenVINO for an .onnx
    # (faster per request on some CPUs), whose runner serialises calls (docs/runtime.md, "How auto
    # picks an ONNX reader"). An engine stays auto (TensorRT).
    backend = "onnxruntime" if str(artifact).lower().endswith(".onnx") else "auto"
    runner = edgeattn.load(artifact, backend=backend, threads=threads)
    runner.load()  # fail at start-up, not on the first request
    preprocessing = runner.preprocessing
    if preprocessing is None:
        raise InputError(f"{artifact} records no preprocessing; export it with edgeattn to serve images")
    input_name = runner.inputs[0].name
    output_name = runner.outputs[0].name
    app = FastAPI(title="edgeattn classifier")

    @app.get("/health")
    def health() -> dict[str, Any]:
        info = runner.artifact
        return {
            "artifact": os.path.basename(artifact),
            "precision": info.precision if info is not None else None,
            "input": runner.inputs[0].to_dict(),
            "preprocessing": preprocessing.to_dict(),
        }

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.body()
        # Decoding and inference release the GIL; on the thread pool they run side by side
        # instead of blocking the event loop.
        return await run_in_threadpool(classify, body)

    def classify(body: bytes) -> dict[str, Any]:
        try:
            x = preprocessing(body)[None]  # decode, resize, normalise: the recorded recipe
        except InputError as exc:
            raise HTTPException(status_code=415, detail=exc.message) from None
        logits = runner.run({input_name: x})[output_name][0]
        probabilities = softmax(logits.astype(np.float64))
        order = np.argsort(-probabilities)[:top_k]
        return {
            "top": [{"class": int(i), "probability": float(probabilities[i])} for i in order],
            "logits": logits.tolist(),
        }

    app.state.runner = runner
    return app


if os.environ.get("EDGEATTN_ARTIFACT"):
    app = create_app(os.environ["EDGEATTN_ARTIFACT"], threads=int(os.environ.get("EDGEATTN_THREADS", "1")))
