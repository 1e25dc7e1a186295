"""Pure-ONNX graph transformations shared by the benchmark and the TensorRT build (no torch)."""
