"""The SQLite metadata store: the shared contract, plus WAL and two processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.adapters.migrations import MIGRATIONS
from common.adapters.sqlite_store import SqliteStore
from common.domain import Box, Detection, ObjectRef
from common.errors import DependencyError
from tests.store_contract import StoreContract

WRITES_PER_PROCESS = 100


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "logo-ann.sqlite3"


@pytest.fixture
def open_store(db_path: Path) -> Iterator[Callable[[], SqliteStore]]:
    opened: list[SqliteStore] = []

    def factory() -> SqliteStore:
        opened.append(SqliteStore(db_path))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], SqliteStore]) -> SqliteStore:
    return open_store()


@pytest.fixture
def raw(db_path: Path) -> Callable[[str], list[tuple[Any, ...]]]:
    def run(sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db_path, timeout=30)
        try:
            with conn:
                return conn.execute(sql).fetchall()
        finally:
            conn.close()

    return run


@pytest.fixture
def stored_bytes(db_path: Path, raw: Callable[[str], list[tuple[Any, ...]]]) -> Callable[[int], bytes]:
    """A logo's vector as it lies on disk: its record in the slot file the row points to."""

    def read(logo_id: int) -> bytes:
        ((dim, slot, crc),) = raw(f"SELECT dim, slot, crc FROM embedding WHERE logo_id = {int(logo_id)}")
        with open(f"{db_path}.vectors-{dim}.f32", "rb") as file:
            file.seek(slot * 4 * dim)
            record = file.read(4 * dim)
        assert zlib.crc32(record) == crc
        return record

    return read


class TestSqliteContract(StoreContract):
    pass


def test_wal_journal_and_foreign_keys(store: SqliteStore, raw: Callable[[str], list[tuple[Any, ...]]]) -> None:
    assert raw("PRAGMA journal_mode") == [("wal",)]
    image, _ = store.upsert_image(ObjectRef("b", "n"), None, None)
    (logo,) = store.record_detections(image.id, 2, 2, [Detection(Box(0, 0, 1, 1), 1.0, "x")], "d")
    # the store enforces foreign keys: an image with logos cannot be deleted under them
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.db.run(lambda tx: tx.exec("DELETE FROM image WHERE id = ?", image.id), write=True)
    assert store.get_logos([logo.id]) != []


def test_unwritable_location_is_a_dependency_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DependencyError, match="sqlite"):
        SqliteStore(blocker / "db.sqlite3")


def _writer(path: str, worker: int, start: Any, results: Any) -> None:
    """One process: images, logos and embeddings, each write its own transaction."""
    try:
        store = SqliteStore(Path(path))
        start.wait(timeout=60)  # both stores open, migrations done: go together
        began = time.monotonic()
        for n in range(WRITES_PER_PROCESS):
            image, created = store.upsert_image(ObjectRef("bucket", f"w{worker}-{n}.jpg"), n, "image/jpeg")
            store.upsert_image(ObjectRef("bucket", f"shared-{n}.jpg"), n, "image/jpeg")
            logos = store.record_detections(image.id, 10, 10, [Detection(Box(0, 0, 1, 1), 0.5, "x")], "d")
            store.save_embeddings([logos[0].id], np.full((1, 4), worker + n, dtype=np.float32), "e", "r")
        results.put((began, time.monotonic()))
        store.close()
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(f"worker {worker}: {type(exc).__name__}: {exc}")


def test_two_processes_write_at_once(db_path: Path, raw: Callable[[str], list[tuple[Any, ...]]]) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_writer, args=(str(db_path), w, start, results)) for w in range(2)]
    for process in workers:
        process.start()
    reported = [results.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=60)
    assert all(isinstance(r, tuple) for r in reported), reported
    assert [p.exitcode for p in workers] == [0, 0]
    (first_start, first_end), (second_start, second_end) = reported
    assert first_start < second_end and second_start < first_end, "the two writers did not overlap"
    per_worker = WRITES_PER_PROCESS
    assert raw("SELECT count(*) FROM image") == [(3 * per_worker,)]  # 2 private + 1 shared per step
    assert raw("SELECT count(*) FROM logo") == [(2 * per_worker,)]
    assert raw("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM embedding_change") == [
        (2 * per_worker, 2 * per_worker, 1, 2 * per_worker)
    ]
    assert raw("SELECT count(*) FROM schema_migrations") == [(len(MIGRATIONS),)]  # each applied once


def traced(store: SqliteStore) -> list[str]:
    """The statements the store's (one pooled) connection runs from now on."""
    statements: list[str] = []
    conn = store.db.pool.acquire()
    conn.set_trace_callback(statements.append)
    store.db.pool.release(conn)
    return statements


def test_a_one_statement_read_opens_no_transaction_and_reads_the_same(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "meta.sqlite3", pool_size=1)
    ref = ObjectRef("b", "a.jpg", "1")
    record, _ = store.upsert_image(ref, None, "image/jpeg")
    (logo,) = store.record_detections(record.id, 10, 10, [Detection(Box(0, 0, 1, 1), 0.9, "logo")], "v")
    store.save_embeddings([logo.id], np.ones((1, 4), dtype=np.float32), "v", "r")
    statements = traced(store)
    sql = "SELECT logo_id FROM embedding WHERE logo_id = ?"
    together = store.db.run(lambda tx: tx.rows(sql, logo.id), write=False)
    alone = store.db.run(lambda tx: tx.rows(sql, logo.id), write=False, one_statement=True)
    assert together == alone == [(logo.id,)]
    assert [s.split()[0] for s in statements] == ["BEGIN", "SELECT", "COMMIT", "SELECT"]
    statements.clear()
    assert list(store.get_embeddings([logo.id])) == [logo.id]  # the neighbour search's lookup
    assert not [s for s in statements if s.startswith(("BEGIN", "COMMIT"))]
    store.close()
