"""Start a local Triton Inference Server on a model repository (tests, benchmarks, CPU-only nodes).

The server is the ``tritonserver`` binary with its Python backend, found either in a Triton
install (``/opt/tritonserver`` in NVIDIA's containers: ``bin/tritonserver`` + ``backends/``) or in
the ``nvidia-pytriton`` wheel unpacked into a folder (``pip install --no-deps --target DIR
nvidia-pytriton``), which ships ``pytriton/tritonserver/{bin,backends,python_backend_stubs}`` and
its shared libraries in ``nvidia_pytriton.libs``. That wheel pins ``numpy<2``, which is why it is
unpacked on its own rather than installed into edgeattn's environment.

The Python backend runs models in a stub process with an embedded interpreter, which finds its
prefix from the first ``python3`` on ``PATH`` (PYTHONPATH and PYTHONHOME are ignored). The stub
of Triton 2.51 (pytriton 0.7) passes tensors to NumPy through the NumPy 1 C layout: with NumPy 2
every output fails with "output tensor shape does not match size of output". So the stub runs in
a small virtual environment of this same interpreter holding ``numpy<2`` (``<home>/stub-venv``,
made by scripts/setup_triton.sh), and our ``model.py`` files append this interpreter's
``site-packages`` and edgeattn from ``EDGEATTN_TRITON_PYTHONPATH`` after NumPy is loaded.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import BackendUnavailableError, EdgeattnError, InputError

HOME_ENV = "EDGEATTN_TRITON_HOME"


class ServerError(EdgeattnError):
    """The Triton server could not be started, did not become ready, or died."""


@dataclass(frozen=True)
class TritonInstall:
    """Where the server binary, its libraries, backends and Python-backend stub are."""

    binary: Path
    libs: tuple[Path, ...]
    backends: Path
    python_stub: Path | None  # None: backends/python already holds a stub (a full Triton install)
    stub_env: Path | None = None  # a virtual environment with numpy<2 for the Python-backend stub


def find_triton(home: str | os.PathLike[str] | None = None) -> TritonInstall:
    """Locate ``tritonserver`` under ``home`` (default: ``$EDGEATTN_TRITON_HOME``)."""
    home = home or os.environ.get(HOME_ENV)
    if not home:
        raise BackendUnavailableError(
            f"no Triton server: received no folder, expected --triton-home or ${HOME_ENV}",
            hint="pip install --no-deps --target .triton nvidia-pytriton==0.7.0 (or use /opt/tritonserver in NVIDIA's container)",
        )
    root = Path(home).resolve()
    packaged = root / "pytriton" / "tritonserver"
    if (packaged / "bin" / "tritonserver").is_file():
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = packaged / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise BackendUnavailableError(
                f"{packaged} has no Python-backend stub for Python {version}",
                hint="run edgeattn under a Python version the wheel ships stubs for (3.8-3.13)",
            )
        env = root / "stub-venv"
        return TritonInstall(
            packaged / "bin" / "tritonserver",
            (root / "nvidia_pytriton.libs",),
            packaged / "backends",
            stub,
            env if (env / "bin" / "python3").exists() else None,
        )
    if (root / "bin" / "tritonserver").is_file():
        return TritonInstall(root / "bin" / "tritonserver", (root / "lib",), root / "backends", None, None)
    raise BackendUnavailableError(
        f"no tritonserver binary under {root}: expected bin/tritonserver or pytriton/tritonserver/bin/tritonserver",
        hint="pip install --no-deps --target DIR nvidia-pytriton==0.7.0 and pass that DIR",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_port_free(port: int, label: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            raise InputError(f"{label} port {port} is in use, expected a free port", hint="pick another port or stop what holds it") from None


class TritonServer:
    """A ``tritonserver`` child process on ``repository``; a context manager that stops it."""

    def __init__(
        self,
        repository: str | os.PathLike[str],
        *,
        home: str | os.PathLike[str] | None = None,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        ready_timeout: float = 120.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.repository = Path(repository).resolve()
        self.install = find_triton(home)
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.ready_timeout = ready_timeout
        self.extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._log: BinaryIO | None = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> TritonServer:
        if not (self.repository / ".").is_dir():
            raise InputError(f"model repository {self.repository}: no such folder")
        for port, label in ((self.http_port, "HTTP"), (self.grpc_port, "gRPC"), (self.metrics_port, "metrics")):
            _check_port_free(port, label)
        self._workdir = Path(tempfile.mkdtemp(prefix="edgeattn-triton-"))
        backends = self._backends_dir(self._workdir)
        command = [
            os.fspath(self.install.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            *self.extra_args,
        ]
        self._log = open(self._workdir / "tritonserver.log", "wb")  # noqa: SIM115 - closed in stop()
        # cwd: the work folder, so that nothing is imported from wherever the caller happens to be.
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=self._environment(), cwd=self._workdir
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            # Keep the log the error points to; the copied backends are not needed any more.
            shutil.rmtree(self._workdir / "backends", ignore_errors=True)
            raise
        return self

    def _backends_dir(self, workdir: Path) -> Path:
        if self.install.python_stub is None:
            return self.install.backends
        # The wheel keeps one stub per Python version; the backend looks for it in backends/python.
        backends = workdir / "backends"
        shutil.copytree(self.install.backends, backends, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(self.install.python_stub, backends / "python" / "triton_python_backend_stub")
        return backends

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # NumPy's OpenBLAS starts a thread per core in every stub process; the models do not use it.
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        libdirs = [sysconfig.get_config_var("LIBDIR") or "", *map(os.fspath, self.install.libs)]
        env["LD_LIBRARY_PATH"] = os.pathsep.join([d for d in libdirs if d] + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
        # The stub embeds this interpreter's libpython (found through LD_LIBRARY_PATH) and takes its
        # prefix from the first python3 on PATH: the numpy<2 stub environment when there is one.
        if self.install.stub_env is not None:
            env["PATH"] = os.pathsep.join([os.fspath(self.install.stub_env / "bin"), env.get("PATH", "")])
        # Our model.py files add EDGEATTN_TRITON_PYTHONPATH to sys.path, with the edgeattn being run
        # first so that the models import this very copy.
        import edgeattn

        paths = [os.fspath(Path(edgeattn.__file__).resolve().parents[1])]
        paths += [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
        env["EDGEATTN_TRITON_PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        return env

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServerError(
                    f"tritonserver exited with code {self._process.returncode} before it was ready: {self._last_error()}",
                    hint=f"full log: {self.log_path}",
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise ServerError(
            f"tritonserver did not become ready within {self.ready_timeout:.0f} s: {self._last_error()}",
            hint="a model that fails to load keeps the server unready; see the log",
        )

    @property
    def log_path(self) -> Path | None:
        return self._workdir / "tritonserver.log" if self._workdir else None

    def log(self) -> str:
        path = self.log_path
        return path.read_text(encoding="utf-8", errors="replace") if path and path.is_file() else ""

    def _last_error(self) -> str:
        """The reason to show: the first model that failed to load, else the last error line."""
        log = self.log()
        failed = re.search(r"failed to load '([^']+)' version \d+: (.*?)(?:\\n|\"$)", log, flags=re.MULTILINE)
        if failed:
            return f"model {failed.group(1)!r} failed to load: {failed.group(2).strip()}"
        lines = [line for line in log.splitlines() if line.startswith("E") or "error" in line.lower()]
        return lines[-1].strip() if lines else "(no error line in the log)"

    def metrics(self) -> str:
        """The Prometheus text of the metrics endpoint."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode("utf-8")

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()  # SIGTERM: Triton drains in-flight requests, then exits
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(metric, ((label, value), ...)): number}."""
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, number = line.rpartition(" ")
        name, _, labels = head.partition("{")
        pairs = []
        for item in labels.rstrip("}").split(","):
            if "=" in item:
                key, _, value = item.partition("=")
                pairs.append((key.strip(), value.strip().strip('"')))
        try:
            values[(name, tuple(sorted(pairs)))] = float(number)
        except ValueError:
            continue
    return values


def batch_statistics(metrics_text: str, model: str) -> dict[str, float]:
    """Requests, executions and the mean batch Triton formed for ``model`` (all versions)."""
    values = parse_metrics(metrics_text)

    def total(metric: str) -> float:
        return sum(v for (name, labels), v in values.items() if name == metric and ("model", model) in labels)

    requests = total("nv_inference_request_success")
    executions = total("nv_inference_exec_count")
    inferences = total("nv_inference_count")
    return {
        "requests": requests,
        "executions": executions,
        "inferences": inferences,
        "mean_batch": inferences / executions if executions else 0.0,
    }
