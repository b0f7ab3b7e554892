"""A throwaway PostgreSQL cluster for the local stack (LOCAL_STACK.md), stoppable and restartable.

``initdb`` into a short temporary folder, then the ``postgres`` server itself in the foreground,
in its own process group, so the stack manages it like its other processes: SIGINT is
PostgreSQL's "fast" shutdown (what ``pg_ctl stop -m fast`` sends), and a restart runs the same
command on the same port and data folder. As root, both run as the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pg8000.dbapi

from stack.parts import Launch, Managed, as_user
from stack.services import HOST, ServiceError, free_port

SUPERUSER = "postgres"


def postgres_bindir() -> Path | None:
    """The folder of ``initdb`` and ``postgres`` (``pg_config --bindir``), or None."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False, timeout=30)
        candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def missing() -> str | None:
    """Why a private cluster cannot start here, or None."""
    if postgres_bindir() is None:
        return "the PostgreSQL server binaries are missing (apt-get install postgresql)"
    if os.geteuid() == 0 and not _has_user(SUPERUSER):
        return "running as root without a 'postgres' user to run the server as"
    return None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: run it as ``postgres`` then."""
    return SUPERUSER if os.geteuid() == 0 else None


def start_private_postgres(log_dir: Path, timeout: float = 60.0) -> tuple[Managed, dict[str, str]]:
    """A fresh cluster on a free port; returns (process, env with ``PG_ADMIN_URL`` and ``PG_DIR``).

    The data folder is a short temporary folder (the socket path is limited to 107 bytes, and the
    ``postgres`` user must be able to reach it); remove it with ``remove_cluster`` after stopping.
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise ServiceError("the PostgreSQL server binaries are missing")
    folder = Path(tempfile.mkdtemp(prefix="lat-pg-"))
    folder.chmod(0o755)
    try:
        return _start(bindir, folder, log_dir, timeout)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _start(bindir: Path, folder: Path, log_dir: Path, timeout: float) -> tuple[Managed, dict[str, str]]:
    data, user = folder / "data", _run_as()
    if user is not None:
        shutil.chown(folder, user, user)
    init = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync"]
    done = subprocess.run(as_user(init, user), capture_output=True, text=True, check=False, cwd=folder, timeout=120)
    if done.returncode != 0:
        raise ServiceError(f"initdb failed ({done.returncode}): {done.stderr[-2000:]}")
    port = free_port()
    command = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
               "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "max_connections=200"]  # fmt: skip
    admin = f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres"
    launch = Launch(command, log_dir / "postgres.log", folder, None, lambda: _accepts(admin), timeout,
                    user=user, stop_signal=signal.SIGINT)  # fmt: skip
    proc = Managed.launch(launch, f"-p {port}")
    return proc, {"PG_ADMIN_URL": admin, "PG_DIR": str(folder)}


def _accepts(url: str) -> bool:
    from common.adapters.sql.pg_url import parse_database_url

    try:
        pg8000.dbapi.connect(**{**parse_database_url(url), "timeout": 2}).close()
    except (pg8000.dbapi.Error, OSError):
        return False
    return True


def remove_cluster(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
