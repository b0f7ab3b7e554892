"""The local stack's backing services (``stack/core.py``), each started with a restart recipe.

Every starter returns ``(process, env)``; the process is a ``Managed`` whose ``Launch`` runs the
same command again (same ports, data folder and environment), so a test can stop a service in the
middle of a run and bring it back where the functions expect it.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from stack import services
from stack.elasticsearch_node import START_TIMEOUT_S, ElasticsearchNode
from stack.parts import REPO, Launch, Managed, create_database, spawn, webhook_toml
from stack.services import HOST, http_answers, http_status


def seaweedfs(root: Path, bridge_port: int, bucket: str) -> tuple[Managed, dict[str, str]]:
    """``weed mini`` with the filer webhook to the bridge; a restart keeps its data folder."""
    toml = webhook_toml(f"http://{HOST}:{bridge_port}/seaweedfs", bucket)
    proc, endpoint = services.start_seaweedfs(root, notification_toml=toml)
    log_path = root / "seaweedfs" / "weed.log"
    link_log(root / "logs" / "seaweedfs.log", log_path)
    ready = functools.partial(_bucket_answers, endpoint, bucket)
    launch = Launch(argv(proc), log_path, root / "seaweedfs", None, ready, 60.0)
    marker = f"-s3.port={endpoint.rsplit(':', 1)[1]}"
    return Managed.from_popen(proc, marker, log_path, launch), {"S3_ENDPOINT_URL": endpoint}


def _bucket_answers(endpoint: str, bucket: str) -> bool:
    """S3 answers for the bucket (its filer and volume are up again), or for the service before it exists."""
    return http_status(f"{endpoint}/{bucket}?max-keys=1") in (200, 404) and http_answers(endpoint)


def pubsub(logs: Path) -> tuple[Managed, dict[str, str]]:
    """The emulator (topics and subscriptions live in memory: a restart loses them)."""
    proc, host = services.start_pubsub_emulator(logs)
    port = host.rsplit(":", 1)[1]
    log_path = logs / f"pubsub-emulator-{port}.log"
    ready = functools.partial(http_answers, f"http://{host}/")
    launch = Launch(argv(proc), log_path, logs, None, ready, 60.0)
    return Managed.from_popen(proc, f"--port={port}", log_path, launch), {"PUBSUB_EMULATOR_HOST": host}


def elasticsearch(logs: Path, port: int) -> tuple[Managed, dict[str, str]]:
    """A real Elasticsearch node (``tests/es_node``), its data in ``<root>/elasticsearch``: a
    restart keeps its indices, as a node restart does."""
    node = ElasticsearchNode(logs.parent / "elasticsearch", port=port)
    node.home.mkdir(parents=True, exist_ok=True)
    launch = Launch(node.command(), logs / "elasticsearch.log", REPO, dict(os.environ), node.ready, START_TIMEOUT_S)
    return Managed.launch(launch, f"--port {port}"), {"ES_URL": node.url}


def shared_database(name: str) -> tuple[None, dict[str, str]]:
    """A fresh database on the machine's PostgreSQL server (nothing to manage)."""
    return None, {"DATABASE_URL": create_database(name)}


def private_database(logs: Path, name: str) -> tuple[Managed, dict[str, str]]:
    """A throwaway PostgreSQL cluster of the stack's own, with a fresh database ``name``."""
    from stack.postgres import remove_cluster, start_private_postgres

    proc, env = start_private_postgres(logs)
    try:
        url = create_database(name, env["PG_ADMIN_URL"])
    except BaseException:
        proc.stop()
        remove_cluster(Path(env["PG_DIR"]))
        raise
    return proc, {**env, "DATABASE_URL": url}


def argv(proc: subprocess.Popen[bytes]) -> list[str]:
    """The command line ``proc`` was started with."""
    args = proc.args
    return [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]


def link_log(link: Path, target: Path) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def function_launch(command: list[str], log_path: Path, env: dict[str, str], probe: str) -> Launch:
    """A function (or the bridge) in the repository folder, ready once ``probe`` answers."""
    return Launch(command, log_path, REPO, env, functools.partial(http_answers, probe), 60.0)


def spawned(launch: Launch, marker: str) -> Managed:
    """Start ``launch`` without waiting (the caller waits for several processes at once)."""
    return Managed.from_popen(spawn(launch.command, launch.log, launch.env or os.environ), marker, launch.log, launch)
