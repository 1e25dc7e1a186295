"""The machine under the runtimes: the CUDA runtime library and Jetson (L4T) state.

:mod:`.cuda` wraps the CUDA runtime calls the TensorRT package needs; :mod:`.jetson` reads the
L4T release, power mode, clock locking and power rails. Both are imported only when used.
"""
