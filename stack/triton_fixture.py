"""Run ``stack/triton_server.py`` (PyTriton, in ``.venv-triton``) for the duration of a test.

    with running_triton(tmp_path, embedder=path) as url:   # url: "127.0.0.1:PORT"
        session = TritonSession(url, "clip")

Skips the test with a reason when the Triton virtual environment is missing (see
``triton_server.py`` for the two install commands).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stack.services import HOST, free_port, http_status, stop, wait_ready

REPO = Path(__file__).resolve().parent.parent
TRITON_PYTHON = REPO / ".venv-triton" / "bin" / "python"
SERVER = Path(__file__).resolve().parent / "triton_server.py"
DETECTOR_NAME, EMBEDDER_NAME = "universal_logo_detector_yolo", "clip"  # as in triton_server.py
INSTALL = (
    "/usr/bin/python3 -m venv .venv-triton && "
    ".venv-triton/bin/pip install nvidia-pytriton==0.7.0 onnxruntime==1.22.1 'numpy<2'"
)


def triton_python() -> Path:
    """The interpreter of the Triton environment; skips the calling test when it is missing."""
    if not TRITON_PYTHON.exists():
        pytest.skip(f"no PyTriton environment at {TRITON_PYTHON}; create it with: {INSTALL}")
    return TRITON_PYTHON


def _environment(python: Path) -> dict[str, str]:
    """Put the interpreter's libpython folder first: the Python-backend stub loads it."""
    libdir = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    env = dict(os.environ)
    if libdir:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, env.get("LD_LIBRARY_PATH", "")]))
    return env


class TritonServer:
    """A started ``triton_server.py`` process; ``url`` is its HTTP address ``host:port``."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, root: Path) -> None:
        self.proc, self.url, self.root = proc, url, root

    def stop(self) -> None:
        """SIGTERM the server (idempotent) and remove its workspace and temporary files."""
        stop(self.proc, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
        _remove_model_copies(self.root / "workspace")


def _remove_model_copies(workspace: Path) -> None:
    """Triton copies each Python-backend model to ``/tmp/folderXXXXXX`` (a fixed template) and
    may leave the copies behind on shutdown; remove those whose config names our workspace."""
    marker = f'"{workspace}"'
    for folder in {p for base in {"/tmp", tempfile.gettempdir()} for p in Path(base).glob("folder??????")}:
        config = folder / "config.pbtxt"
        try:
            if marker in config.read_text(errors="replace"):
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def start_triton(
    tmpdir: Path, *, detector: Path | None = None, embedder: Path | None = None, timeout: float = 90.0
) -> TritonServer:
    """Start a Triton server serving the given ONNX files and wait until it is ready."""
    python = triton_python()
    http, grpc, metrics = free_port(), free_port(), free_port()
    root = Path(tmpdir) / f"triton-{http}"  # removed by stop(); the log stays beside it
    root.mkdir(parents=True)
    workspace = root / "workspace"
    log_path = Path(tmpdir) / f"triton-{http}.log"
    command = [str(python), str(SERVER), "--host", HOST, "--http-port", str(http), "--grpc-port", str(grpc),
               "--metrics-port", str(metrics), "--workspace", str(workspace)]  # fmt: skip
    if detector is not None:
        command += ["--detector", str(detector)]
    if embedder is not None:
        command += ["--embedder", str(embedder)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_environment(python), cwd=REPO, start_new_session=True,
        )  # fmt: skip
    server = TritonServer(proc, f"{HOST}:{http}", root)
    # the server is ready before PyTriton has loaded the models: wait for each of them too
    names = [name for name, path in ((DETECTOR_NAME, detector), (EMBEDDER_NAME, embedder)) if path is not None]
    urls = [f"http://{server.url}/v2/health/ready"] + [f"http://{server.url}/v2/models/{n}/ready" for n in names]
    try:
        wait_ready(lambda: all(http_status(url) == 200 for url in urls), proc, log_path, timeout)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running_triton(
    tmpdir: Path, *, detector: Path | None = None, embedder: Path | None = None, timeout: float = 90.0
) -> Iterator[str]:
    """A Triton server for the duration of the block; yields its HTTP address ``host:port``."""
    server = start_triton(tmpdir, detector=detector, embedder=embedder, timeout=timeout)
    try:
        yield server.url
    finally:
        server.stop()
