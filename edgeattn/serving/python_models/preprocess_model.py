"""Triton Python-backend model: encoded image bytes -> the model's normalised input tensor.

The first step of the ``<model>_ensemble`` written by ``edgeattn triton --with-preprocessing``.
``config.pbtxt``'s ``preprocessing`` parameter is the artifact's recorded preprocessing
(``edgeattn.data.Preprocessing.to_dict()``), applied with edgeattn's own NumPy/Pillow code, so
a client sends JPEG/PNG bytes and gets the model's outputs. Torch is not needed.
"""

import io
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
        from edgeattn.data import Preprocessing

        config = json.loads(args["model_config"])
        params = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.preprocessing = Preprocessing.from_dict(json.loads(params["preprocessing"]))
        self.input_name = config["input"][0]["name"]
        output = config["output"][0]
        self.output_name = output["name"]
        self.output_dtype = pb_utils.triton_string_to_numpy(output["data_type"])

    def execute(self, requests):
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()
            try:
                batch = np.stack([self._decode(data) for data in images.reshape(-1)]).astype(self.output_dtype)
            except Exception as exc:  # a bad image fails its own request only
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"cannot decode image: {exc}")))
                continue
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, batch)]))
        return responses

    def _decode(self, data):
        from PIL import Image

        with Image.open(io.BytesIO(bytes(data))) as image:
            image.load()
            return self.preprocessing(image)
