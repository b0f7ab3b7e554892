"""Pieces of the local cloud stack (``stack/core.py``): processes, database, Pub/Sub wiring, env file."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pwd
import shlex
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pg8000.dbapi

from common.adapters.sql.pg_url import parse_database_url
from stack.services import ServiceError, wait_ready
from stack.waiting import WaitTimeout, wait_until

log = logging.getLogger("stack")

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("LOGO_ANN_STACK_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# --- processes ----------------------------------------------------------------------------
def spawn(command: list[str], log_path: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``command`` in the repository, in its own process group, its output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=REPO, env=dict(env), start_new_session=True)  # fmt: skip


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- PostgreSQL ---------------------------------------------------------------------------
def _admin(url: str = ADMIN_URL) -> Any:
    try:
        conn = pg8000.dbapi.connect(**parse_database_url(url))
    except (pg8000.dbapi.Error, OSError) as exc:
        raise ServiceError(f"PostgreSQL is not reachable at {url} (set LOGO_ANN_STACK_PG_URL): {exc}") from exc
    conn.autocommit = True
    return conn


def postgres_reachable() -> str | None:
    """None when the admin connection works, else the reason."""
    try:
        _admin().close()
    except ServiceError as exc:
        return str(exc)
    return None


def create_database(name: str, admin_url: str = ADMIN_URL) -> str:
    """A fresh, empty database ``name`` (dropped first if it exists); returns its URL."""
    admin = _admin(admin_url)
    try:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    return f"{admin_url.split('?')[0].rsplit('/', 1)[0]}/{name}"


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    admin = _admin(admin_url)
    try:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


# --- Pub/Sub (the emulator's REST API) -----------------------------------------------------
def _rest(method: str, url: str, body: dict[str, Any] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code == 409:  # already exists
            return 409
        raise ServiceError(f"{method} {url}: HTTP {exc.code} {exc.read()[:300]!r}") from exc


def create_push_subscription(emulator: str, project: str, topic: str, endpoint: str,
                             subscriber: str = "embed-index", ack_deadline_s: int = 60) -> None:  # fmt: skip
    """Topic, dead-letter topic and a push subscription ``<topic>-<subscriber>`` delivering to ``endpoint``."""
    base = f"http://{emulator}/v1/projects/{project}"
    dead_letter = f"{topic}-dead-letter"
    for name in (topic, dead_letter):
        _rest("PUT", f"{base}/topics/{name}")
    subscription = {
        "topic": f"projects/{project}/topics/{topic}",
        "pushConfig": {"pushEndpoint": endpoint},
        "ackDeadlineSeconds": ack_deadline_s,
        "deadLetterPolicy": {"deadLetterTopic": f"projects/{project}/topics/{dead_letter}", "maxDeliveryAttempts": 5},
        "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "10s"},
    }
    _rest("PUT", f"{base}/subscriptions/{topic}-{subscriber}", subscription)


# --- SeaweedFS ----------------------------------------------------------------------------
def webhook_toml(endpoint: str, bucket: str) -> str:
    """The filer's ``notification.toml``: a webhook for every object change under the bucket."""
    return f"""[notification.webhook]
enabled = true
endpoint = "{endpoint}"
timeout_seconds = 300
max_retries = 5
backoff_seconds = 1
max_backoff_seconds = 10
workers = 4
buffer_size = 10000
event_types = ["create", "update", "delete", "rename"]
path_prefixes = ["/buckets/{bucket}/"]
"""


# --- the env file ---------------------------------------------------------------------------
def write_env(path: Path, env: Mapping[str, str]) -> None:
    """Shell ``KEY=value`` lines (values quoted where needed), readable by ``source`` or ``set -a``."""
    lines = [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    path.write_text("\n".join(lines) + "\n")


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key:
            env[key] = shlex.split(value)[0] if value else ""
    return env


def as_user(command: list[str], user: str | None) -> list[str]:
    """``command`` run as ``user`` (None: as this process's user) through ``setpriv``, which sets the
    ids and execs it. Not ``subprocess``'s ``user=``: that makes Python fork instead of vfork, and a
    fork runs the atfork handlers of the libraries loaded here; gRPC's (the Pub/Sub client) restarts
    its poller thread in the child, which then crashed on the descriptors ``close_fds`` closes before
    the exec (PostgreSQL restarted by a fault test died of SIGSEGV with gRPC's epoll error in its log)."""
    if user is None:
        return command
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--", *command]


# --- what the stack started ---------------------------------------------------------------
@dataclasses.dataclass
class Launch:
    """How to start a process again exactly as before: same command (ports), folder, environment."""

    command: list[str]
    log: Path
    cwd: Path
    env: Mapping[str, str] | None  # None: this process's environment
    ready: Callable[[], bool] | None = None  # polled after start until true
    timeout: float = 60.0
    user: str | None = None
    stop_signal: int = signal.SIGTERM


class Managed:
    """A started process group: its leader's PID, a marker from its command line, its log.

    With a ``Launch`` it can be stopped and started again (``stop`` / ``start``) on the same
    ports, with the same arguments and environment, its output appended to the same log.
    """

    def __init__(self, pid: int, marker: str, log: Path, popen: subprocess.Popen[bytes] | None = None,
                 launch: Launch | None = None, stop_signal: int = signal.SIGTERM) -> None:  # fmt: skip
        self.pid, self.marker, self.log, self._popen = pid, marker, log, popen
        self.recipe = launch
        self.stop_signal = launch.stop_signal if launch is not None else stop_signal

    @classmethod
    def from_popen(
        cls, popen: subprocess.Popen[bytes], marker: str, log: Path, launch: Launch | None = None
    ) -> Managed:
        return cls(popen.pid, marker, log, popen, launch)

    @classmethod
    def launch(cls, launch: Launch, marker: str) -> Managed:
        """Start ``launch`` and wait until it is ready (stopping it if it is not)."""
        proc = cls(0, marker, launch.log, None, launch)
        proc.start()
        return proc

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise ServiceError(f"process {self.pid} was not started by this process")
        return self._popen

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "marker": self.marker, "log": str(self.log), "stop_signal": int(self.stop_signal)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Managed:
        stop_signal = int(data.get("stop_signal", signal.SIGTERM))
        return cls(int(data["pid"]), str(data["marker"]), Path(data["log"]), stop_signal=stop_signal)

    def start(self) -> None:
        """Start the process again from its ``Launch`` (no-op while it runs); waits until ready."""
        if self.recipe is None:
            raise ServiceError(f"process {self.pid} ({self.marker}) has no launch recipe: it cannot restart")
        if self._popen is not None and self.running():
            return
        recipe = self.recipe
        recipe.log.parent.mkdir(parents=True, exist_ok=True)
        with recipe.log.open("ab") as out:
            self._popen = subprocess.Popen(as_user(recipe.command, recipe.user), stdout=out,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=recipe.cwd,
                                           env=None if recipe.env is None else dict(recipe.env),
                                           start_new_session=True)  # fmt: skip
        self.pid = self._popen.pid
        if recipe.ready is not None:
            wait_ready(recipe.ready, self._popen, recipe.log, recipe.timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the process group (its stop signal, then SIGKILL after ``timeout``)."""
        terminate([self], timeout)

    def running(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            return False  # reaped: the PID may be reused from now on
        return self.marker in _cmdline(self.pid)

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    def reap(self, timeout: float = 10.0) -> None:
        """Wait for the leader after SIGKILL (collects the exit status of a child of ours)."""
        if self._popen is not None:
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.error("process %d survived SIGKILL", self.pid)

    def gone(self) -> bool:
        if self._popen is not None:
            self._popen.poll()
        return not _group_alive(self.pid)


def terminate(processes: list[Managed], timeout: float = 20.0) -> None:
    """Signal every running group at once (SIGTERM, or its own stop signal), wait, SIGKILL what is left."""
    live = [proc for proc in processes if proc.running()]
    for proc in live:
        proc.signal(proc.stop_signal)
    with contextlib.suppress(WaitTimeout):  # what is left is killed below
        wait_until(lambda: all(proc.gone() for proc in live), timeout)
    for proc in live:
        if not proc.gone():
            log.warning("process group %d did not stop on SIGTERM; killing it", proc.pid)
            proc.signal(signal.SIGKILL)
    for proc in live:
        proc.reap()
