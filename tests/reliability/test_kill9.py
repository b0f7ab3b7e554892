"""The embedded default survives ``kill -9`` in the middle of ``logo-ann ingest``.

A real ``logo-ann ingest`` process works through 40 generated photos and is killed with
SIGKILL once a few have been reported. Then ``ingest`` runs again over the same folder and
``reconcile`` after it: SQLite must pass its integrity check, every photo must have exactly
one image row, and the index must hold exactly the store's embeddings.
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

from common.adapters.build import build_index
from tests.reliability.conftest import Record
from tests.reliability.embedded import embedded_container
from tests.reliability.test_reconcile import picture

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "common.cli"]
PHOTOS = 40


def run_ingest(env: dict[str, str], folder: Path) -> list[dict]:
    done = subprocess.run([*CLI, "ingest", "--json", str(folder)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_kill_9_during_ingest_then_catch_up(tmp_path: Path, record: Record) -> None:
    home = tmp_path / "home"
    container = embedded_container(home)  # builds the models; the processes do the work
    settings = container.settings
    env = dict(
        os.environ,
        LOGO_ANN_HOME=str(home),
        LOGO_ANN_DETECTOR_MODEL=settings.detector_model,
        LOGO_ANN_EMBEDDER_MODEL=settings.embedder_model,
    )
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(PHOTOS):
        (folder / f"photo-{i:02d}.png").write_bytes(picture(100 + i))

    proc = subprocess.Popen(
        [*CLI, "ingest", "--json", str(folder)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    seen = [proc.stdout.readline() for _ in range(5)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    killed_after = sum(1 for line in seen if line.strip())

    lines = run_ingest(env, folder)
    report = json.loads(
        subprocess.run([*CLI, "reconcile"], env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    )

    db = sqlite3.connect(settings.sqlite_path)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    per_object = db.execute("SELECT name, COUNT(*) FROM image GROUP BY name").fetchall()
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM image GROUP BY status").fetchall())
    embedded = {row[0] for row in db.execute("SELECT logo_id FROM embedding")}
    logos = db.execute("SELECT COUNT(*) FROM logo").fetchone()[0]
    db.close()
    index = build_index(settings, container.fresh_index().dim)
    record(
        "crash",
        f"kill -9 during ingest of {PHOTOS} photos (after {killed_after} reported), ingest again, reconcile",
        f"integrity {integrity}; {len(per_object)} images, statuses {statuses}; "
        f"{len(index.ids())} index documents for {len(embedded)} embeddings; reconcile {report}",
    )
    assert proc.returncode == -signal.SIGKILL and killed_after == 5
    assert integrity == "ok"
    assert len(lines) == PHOTOS and all(line["status"] == "indexed" for line in lines)
    assert len(per_object) == PHOTOS and all(count == 1 for _, count in per_object)
    assert statuses == {"indexed": PHOTOS} and logos == PHOTOS  # the detector finds one logo per photo
    assert index.ids() == embedded and len(embedded) == PHOTOS
    container.store.close()
