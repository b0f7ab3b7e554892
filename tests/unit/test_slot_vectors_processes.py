"""The slot file across real processes: a writer killed between its ``pwrite`` and its commit,
and a reader reading committed embeddings while another process writes batches."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.adapters.sqlite_store import SqliteStore
from tests.unit.test_slot_vectors import DIM, logos, vector_file, vectors_of

ROOT = Path(__file__).resolve().parents[2]
BATCHES, PER_BATCH = 40, 25

# Saves embeddings for the given logos, but stops for good right after the slot-file write,
# inside the write transaction, and says which slot it started at.
PAUSED_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from common.adapters.sql import slot_file
from common.adapters.sqlite_store import SqliteStore

write = slot_file.SlotFile.write

def paused(self, first, matrix):
    write(self, first, matrix)
    Path(sys.argv[2]).write_text(str(first))
    time.sleep(600)

slot_file.SlotFile.write = paused
store = SqliteStore(Path(sys.argv[1]))
ids = [int(i) for i in sys.argv[3].split(",")]
store.save_embeddings(ids, np.full((len(ids), int(sys.argv[4])), 7.0, np.float32), "e", "r")
"""


def test_a_writer_killed_before_its_commit_leaves_slots_the_next_one_reuses(tmp_path: Path) -> None:
    db_path = tmp_path / "logo-ann.sqlite3"
    store = SqliteStore(db_path)
    try:
        committed = logos(store, 5, "a.jpg")
        store.save_embeddings(committed, vectors_of(committed), "e", "r")  # slots 0..4
        doomed, later = logos(store, 4, "b.jpg"), logos(store, 3, "c.jpg")
        marker = tmp_path / "written"
        child = subprocess.Popen(
            [sys.executable, "-c", PAUSED_WRITER, str(db_path), str(marker), ",".join(map(str, doomed)), str(DIM)],
            cwd=ROOT,
        )
        for _ in range(3600):  # the child opens the store and writes: up to three minutes on a loaded machine
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.read_text() == "5"
        assert vector_file(db_path).stat().st_size == 9 * 4 * DIM  # its records are in the file...
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert store.get_embeddings(doomed) == {}  # ...but no row refers to them
        assert store.save_embeddings(later, vectors_of(later), "e", "r") == later
        conn = sqlite3.connect(db_path)
        slots = dict(conn.execute("SELECT logo_id, slot FROM embedding").fetchall())
        conn.close()
        assert sorted(slots[i] for i in later) == [5, 6, 7]  # the killed writer's slots, taken again
        assert vector_file(db_path).stat().st_size == 9 * 4 * DIM  # no garbage, no lost space
        everything = committed + later
        got = store.get_embeddings(everything)
        np.testing.assert_array_equal(np.stack([got[i] for i in everything]), vectors_of(everything))
        assert store.check_vectors().unreadable == []
        (stats,) = store.vector_stats()
        assert (stats["slots_used"], stats["live"], stats["holes"]) == (8, 8, 0)
    finally:
        store.close()


def _writer(path: str, start: Any, results: Any) -> None:
    try:
        store = SqliteStore(Path(path))
        start.wait(timeout=60)
        for n in range(BATCHES):
            ids = logos(store, PER_BATCH, f"w-{n}.jpg")
            store.save_embeddings(ids, vectors_of(ids), "e", "r")
            if n % 5 == 4:  # deletions too: their slots become holes under the reader
                store.delete_logos_of_image(store.get_logos(ids[:1])[0].image_id, keep_annotated=False)
        store.close()
        results.put(("writer", "done"))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(("writer", f"{type(exc).__name__}: {exc}"))


def _reader(path: str, start: Any, results: Any) -> None:
    try:
        store = SqliteStore(Path(path))
        expected: dict[int, np.ndarray] = {}
        passes, partial, checked, wrong = 0, 0, 0, []
        start.wait(timeout=60)
        seen, give_up = 0, time.monotonic() + 240  # a bound, should the writer die
        while (seen < BATCHES * PER_BATCH * 4 // 5 or passes < 3) and time.monotonic() < give_up:
            got = {i: v for ids, m in store.iter_embeddings(batch_size=64) for i, v in zip(ids, m, strict=True)}
            for change in store.changes_since(0, limit=100_000)[-PER_BATCH:]:
                got.update(store.get_embeddings([change.logo_id]))
            for logo_id, vector in got.items():
                want = expected.setdefault(logo_id, vectors_of([logo_id])[0])
                checked += 1
                if not np.array_equal(vector, want):
                    wrong.append(logo_id)
            seen = len(got)
            passes += 1
            partial += int(0 < seen < BATCHES * PER_BATCH * 4 // 5)
        store.close()
        results.put(("reader", (passes, partial, checked, wrong)))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(("reader", f"{type(exc).__name__}: {exc}"))


def test_a_reader_never_sees_a_wrong_vector_while_another_process_writes(tmp_path: Path) -> None:
    db_path = tmp_path / "logo-ann.sqlite3"
    SqliteStore(db_path).close()  # migrated once, before both start
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=f, args=(str(db_path), start, results)) for f in (_writer, _reader)]
    for process in workers:
        process.start()
    reported = dict(results.get(timeout=300) for _ in workers)
    for process in workers:
        process.join(timeout=60)
    assert reported["writer"] == "done", reported
    assert isinstance(reported["reader"], tuple), reported
    passes, partial, checked, wrong = reported["reader"]
    assert wrong == []
    assert partial >= 1, "the reader never read while the writer was half-way"
    assert checked >= BATCHES * PER_BATCH * 4 // 5
