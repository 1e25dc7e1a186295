"""``model.py`` files for Triton's Python backend, copied into the repository's version folders.

They import ``triton_python_backend_utils``, which exists only inside Triton's Python-backend
stub, so nothing in edgeattn imports them; the repository writer copies them by file name.
"""
