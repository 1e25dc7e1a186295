"""Stand-ins for the ``tensorrt`` module (one per API generation) and the CUDA runtime library.

They verify API USAGE, not TensorRT's behaviour: each stand-in exposes exactly the enums,
classes, methods and properties that the real bindings of that generation define (from
``api_surface.json``), so touching a symbol the generation lacks raises ``AttributeError`` as the
real module would, and every call is recorded for order checks. What the methods *do* is a
minimal fake (a "plan" is JSON, "device memory" is host memory, a "kernel" is a numpy formula).
"""
