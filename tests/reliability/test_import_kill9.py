"""``logo-ann import robotoff`` survives ``kill -9`` and resumes from its checkpoint in the store.

A real import process reads a 12,000-logo Robotoff database (built from the facts, throwaway)
in batches of 200 and is killed with SIGKILL once its checkpoint shows progress. The second run
must start after the checkpoint and end with every logo, embedding and change-log row exactly
once, and the embedded index holding exactly the imported embeddings.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stack import robotoff_db
from stack.pg import scratch_database
from stack.waiting import wait_until

pytestmark = [pytest.mark.e2e, robotoff_db.needs_v2_v3]
CLI = [sys.executable, "-m", "common.cli"]
LOGOS = 12_000


def _checkpoint(db: Path) -> tuple[int, int] | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT resume_after, rows_done FROM import_checkpoint").fetchone()
    except sqlite3.Error:
        return None  # not created yet
    return (int(row[0]), int(row[1])) if row else None


def test_kill_9_during_import_then_resume(tmp_path: Path) -> None:
    with scratch_database("robotoff_kill") as url:
        robotoff_db.create_schema(url)
        robotoff_db.fill_synthetic(url, LOGOS)
        home = tmp_path / "home"
        env = dict(os.environ, LOGO_ANN_HOME=str(home))
        command = [*CLI, "import", "robotoff", "--database-url", url, "--batch-size", "200"]
        with (tmp_path / "first.log").open("w") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        db = home / "logo-ann.sqlite3"
        seen = None

        def checkpointed_or_ended() -> bool:
            nonlocal seen
            seen = _checkpoint(db)
            return proc.poll() is not None or bool(seen and seen[1] > 0)

        wait_until(checkpointed_or_ended, 120, interval=0.01, message=lambda: f"no checkpoint yet (last seen {seen})")
        assert proc.poll() is None, (
            f"the import ended before it could be killed: {(tmp_path / 'first.log').read_text()}"
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        killed_at = _checkpoint(db)
        assert killed_at is not None and 0 < killed_at[1] < LOGOS, killed_at

        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["resumed_after"] == killed_at[0] and report["rows"] == LOGOS - killed_at[1]
    assert report["index_documents"] == LOGOS
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("logo", "embedding")}
        changes = conn.execute("SELECT count(*), count(DISTINCT logo_id) FROM embedding_change").fetchone()
        ids = conn.execute("SELECT min(id), max(id) FROM logo").fetchone()
        checkpoint = conn.execute(
            "SELECT rows_done, imported, finished_at IS NOT NULL FROM import_checkpoint"
        ).fetchone()
    assert count == {"logo": LOGOS, "embedding": LOGOS} and changes == (LOGOS, LOGOS)
    assert ids == (1, LOGOS) and checkpoint == (LOGOS, LOGOS, 1)
