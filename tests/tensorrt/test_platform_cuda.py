"""Where libcudart is searched, and in which order (edgeattn.platform.cuda, docs/tensorrt.md F16)."""

from __future__ import annotations

import pytest

from edgeattn.platform import cuda


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def test_search_order_ld_library_path_then_pip_then_sonames(tmp_path):
    a = _touch(tmp_path / "a", "libcudart.so.12", "libcudart.so.12.6.77", "libcudart.so", "libcudart_static.a")
    b = _touch(tmp_path / "b", "libcudart.so.11.0")
    site = tmp_path / "site-packages"
    pip = _touch(site / "nvidia" / "cuda_runtime" / "lib", "libcudart.so.13")
    found = cuda.candidate_paths({"LD_LIBRARY_PATH": f"{a}:{b}"}, site_dirs=[str(site)])
    mine = [p for p in found if p.startswith(str(tmp_path))]
    # LD_LIBRARY_PATH folders first, in order, newest version first within one; static archives never
    assert mine == [str(a / "libcudart.so.12.6.77"), str(a / "libcudart.so.12"), str(a / "libcudart.so"),
                    str(b / "libcudart.so.11.0"), str(pip / "libcudart.so.13")]
    assert found[-len(cuda.SONAMES):] == list(cuda.SONAMES)  # the loader's own search last


def test_load_runtime_tries_the_next_candidate(monkeypatch):
    opened = []

    def opener(path):
        opened.append(path)
        raise OSError("nope")

    monkeypatch.setattr(cuda, "candidate_paths", lambda *a, **k: ["/x/libcudart.so.13", "libcudart.so.12"])
    with pytest.raises(cuda.BackendUnavailableError, match="libcudart"):
        cuda.load_runtime(opener)
    assert opened == ["/x/libcudart.so.13", "libcudart.so.12"]
