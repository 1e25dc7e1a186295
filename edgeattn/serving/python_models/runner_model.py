"""Triton Python-backend model: serve an edgeattn artifact through edgeattn's own runner.

Written into ``<repo>/<model>/<version>/model.py`` by ``edgeattn triton --backend python``. The
artifact (``.onnx`` or TensorRT engine with its sidecar) lies beside it; ``config.pbtxt``'s
``parameters`` name it (``artifact``) and the ONNX Runtime thread count (``threads``). With
dynamic batching Triton hands several requests to one ``execute`` call: they are run as one
batch and split again, which is where dynamic batching pays off.
"""

import json
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

# The stub's embedded interpreter ignores PYTHONPATH; a server started by
# edgeattn.serving.TritonServer names the environment edgeattn lives in here instead. Appended,
# so that the stub environment's own packages (numpy<2) keep precedence.
for _entry in os.environ.get("EDGEATTN_TRITON_PYTHONPATH", "").split(os.pathsep):
    if _entry and _entry not in sys.path:
        sys.path.append(_entry)


class TritonPythonModel:
    def initialize(self, args):
        import edgeattn

        config = json.loads(args["model_config"])
        params = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        # args["model_repository"] is this model's folder; the version folder holds the artifact.
        folder = os.path.join(args["model_repository"], args["model_version"])
        threads = int(params.get("threads") or 0) or None
        self.runner = edgeattn.load(os.path.join(folder, params["artifact"]), threads=threads)
        self.inputs = [entry["name"] for entry in config["input"]]
        self.outputs = [
            (entry["name"], pb_utils.triton_string_to_numpy(entry["data_type"])) for entry in config["output"]
        ]
        self.batched = int(config.get("max_batch_size", 0)) > 0

    def execute(self, requests):
        feeds = [{name: pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs} for r in requests]
        try:
            results = self._run(feeds)
        except Exception as exc:  # one failed batch answers every request with the error
            error = pb_utils.TritonError(f"{type(exc).__name__}: {exc}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]
        return [
            pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(out[name], dtype=dtype)) for name, dtype in self.outputs]
            )
            for out in results
        ]

    def _run(self, feeds):
        if not self.batched or len(feeds) == 1:
            return [self.runner.run(feed) for feed in feeds]
        sizes = [len(feed[self.inputs[0]]) for feed in feeds]
        merged = self.runner.run({name: np.concatenate([feed[name] for feed in feeds]) for name in self.inputs})
        cuts = np.cumsum(sizes)[:-1]
        split = {name: np.split(value, cuts) for name, value in merged.items()}
        return [{name: parts[i] for name, parts in split.items()} for i in range(len(feeds))]

    def finalize(self):
        self.runner.close()
