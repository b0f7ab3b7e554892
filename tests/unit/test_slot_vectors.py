"""SQLite's vectors in the slot file beside the database: round trip, holes, crc, schema v4 -> v5."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from common.adapters.migrations import MIGRATIONS, apply_migrations
from common.adapters.sqlite_store import SqliteDatabase, SqliteStore
from common.domain import Box, Detection, ObjectRef
from common.pipeline.reconcile import reconcile
from tests.fakes import BruteForceIndex

DIM = 16


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "logo-ann.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(db_path)
    yield opened
    opened.close()


def logos(store: SqliteStore, count: int, name: str = "a.jpg") -> list[int]:
    """``count`` logos on one new image."""
    image, _ = store.upsert_image(ObjectRef("bucket", name, "1"), None, None)
    boxes = [Detection(Box(0.0, 0.0, 0.5, 0.5), 0.5, "object")] * count
    return [logo.id for logo in store.record_detections(image.id, 10, 10, boxes, "det")]


def vectors_of(ids: list[int], dim: int = DIM) -> np.ndarray:
    """A vector that depends on the logo id alone, so any mix-up shows."""
    return np.stack([np.random.default_rng(i).normal(size=dim).astype(np.float32) for i in ids])


def rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def vector_file(db_path: Path, dim: int = DIM) -> Path:
    return db_path.with_name(f"{db_path.name}.vectors-{dim}.f32")


def test_vectors_go_to_the_slot_file_and_read_back_exactly(store: SqliteStore, db_path: Path) -> None:
    ids = logos(store, 30)
    for start in range(0, 30, 7):  # five transactions, consecutive slots
        part = ids[start : start + 7]
        assert store.save_embeddings(part, vectors_of(part), "e", "r") == part
    assert rows(db_path, "SELECT count(*), count(vector), min(slot), max(slot) FROM embedding") == [(30, 0, 0, 29)]
    assert vector_file(db_path).stat().st_size == 30 * 4 * DIM
    on_disk = np.fromfile(vector_file(db_path), dtype="<f4").reshape(30, DIM)
    slots = dict(rows(db_path, "SELECT logo_id, slot FROM embedding"))
    np.testing.assert_array_equal(on_disk[[slots[i] for i in ids]], vectors_of(ids))
    got = store.get_embeddings(ids[::-1])
    assert sorted(got) == ids
    for logo_id in ids:
        np.testing.assert_array_equal(got[logo_id], vectors_of([logo_id])[0])
    batches = list(store.iter_embeddings(batch_size=8))
    assert [len(b) for b, _ in batches] == [8, 8, 8, 6]
    np.testing.assert_array_equal(np.concatenate([m for _, m in batches]), vectors_of(sorted(ids)))
    assert store.embedding_count() == 30


def test_deleted_vectors_leave_holes_never_reused(store: SqliteStore, db_path: Path) -> None:
    ids = logos(store, 4, "a.jpg")
    store.save_embeddings(ids, vectors_of(ids), "e", "r")
    doomed = logos(store, 2, "b.jpg")
    store.save_embeddings(doomed, vectors_of(doomed), "e", "r")  # slots 4, 5: the highest ones
    image_id = store.get_logos(doomed)[0].image_id
    store.delete_logos_of_image(image_id, keep_annotated=False)
    (stats,) = store.vector_stats()
    assert (stats["slots_used"], stats["live"], stats["holes"], stats["dead_fraction"]) == (6, 4, 2, 0.3333)
    later = logos(store, 3, "c.jpg")
    store.save_embeddings(later, vectors_of(later), "e", "r")
    slots = dict(rows(db_path, "SELECT logo_id, slot FROM embedding"))
    assert sorted(slots[i] for i in later) == [6, 7, 8]  # not 4, 5: a reader may still hold those
    np.testing.assert_array_equal(np.stack([store.get_embeddings(later)[i] for i in later]), vectors_of(later))


def test_a_corrupt_record_is_reported_not_returned(
    store: SqliteStore, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = logos(store, 5)
    store.save_embeddings(ids, vectors_of(ids), "e", "r")
    victim = ids[2]
    (slot,) = rows(db_path, f"SELECT slot FROM embedding WHERE logo_id = {victim}")[0]
    with open(vector_file(db_path), "r+b") as file:
        file.seek(int(slot) * 4 * DIM + 12)
        file.write(b"\x00\x01\x02\x03")  # one float of one record
    with caplog.at_level(logging.ERROR):
        got = store.get_embeddings(ids)
    assert sorted(got) == sorted(set(ids) - {victim})
    assert str(victim) in caplog.text and "crc32" in caplog.text
    ((batch_ids, matrix),) = list(store.iter_embeddings())
    assert batch_ids == [i for i in ids if i != victim]
    np.testing.assert_array_equal(matrix, vectors_of(batch_ids))
    check = store.check_vectors(batch_size=2)
    assert (check.checked, check.unreadable) == (5, [victim])
    index = BruteForceIndex(DIM)
    index.upsert(ids, vectors_of(ids))  # built before the damage: the index holds a good copy
    report = reconcile(store, index).as_dict()
    assert report["vectors"]["unreadable_logo_ids"] == [victim]  # type: ignore[index]
    assert report["removed"] == 0 and victim in index.ids()


def test_a_record_lost_past_the_end_of_the_file_is_unreadable(store: SqliteStore, db_path: Path) -> None:
    ids = logos(store, 3)
    store.save_embeddings(ids, vectors_of(ids), "e", "r")
    with open(vector_file(db_path), "r+b") as file:
        file.truncate(2 * 4 * DIM + 5)  # a power cut kept the rows but not the last record
    assert sorted(store.get_embeddings(ids)) == ids[:2]
    assert store.check_vectors().unreadable == [ids[2]]


def test_a_v4_store_keeps_its_inline_vectors_and_writes_new_ones_to_the_file(db_path: Path) -> None:
    old = SqliteDatabase(db_path)
    old.run(lambda tx: apply_migrations(tx, old, MIGRATIONS[:4]), write=True)
    old.pool.close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "INSERT INTO image (bucket, name, generation, status, created_at, updated_at) VALUES ('b', 'n', '1',"
            " 'indexed', 't', 't')"
        )
        for logo_id in (1, 2, 3):
            conn.execute(
                "INSERT INTO logo (id, image_id, box_index, y_min, x_min, y_max, x_max, score, label,"
                " detector_version, created_at) VALUES (?, 1, ?, 0, 0, 1, 1, 0.5, 'x', 'd', 't')",
                (logo_id, logo_id),
            )
        for logo_id in (1, 3):
            blob = vectors_of([logo_id])[0].astype("<f4").tobytes()
            conn.execute(
                "INSERT INTO embedding (logo_id, vector, dim, embedder_version, crop_recipe, created_at)"
                " VALUES (?, ?, ?, 'e', 'r', 't')",
                (logo_id, blob, DIM),
            )
    conn.close()
    store = SqliteStore(db_path)  # migrates to v5 and on
    try:
        assert rows(db_path, "SELECT min(version), max(version) FROM schema_migrations WHERE version > 4") == [
            (5, MIGRATIONS[-1].version)
        ]
        assert store.save_embeddings([2], vectors_of([2]), "e", "r") == [2]
        assert rows(db_path, "SELECT logo_id, vector IS NULL, slot FROM embedding ORDER BY logo_id") == [
            (1, 0, None),
            (2, 1, 0),
            (3, 0, None),
        ]
        ((ids, matrix),) = list(store.iter_embeddings())
        assert ids == [1, 2, 3]
        np.testing.assert_array_equal(matrix, vectors_of([1, 2, 3]))
        np.testing.assert_array_equal(store.get_embeddings([3])[3], vectors_of([3])[0])
        assert store.check_vectors().unreadable == []
    finally:
        store.close()


def test_the_schema_refuses_a_row_with_neither_or_both(store: SqliteStore, db_path: Path) -> None:
    (logo_id,) = logos(store, 1)
    conn = sqlite3.connect(db_path)
    try:
        for vector, slot, crc in ((None, None, None), (b"\x00" * 4 * DIM, 0, 1), (None, 0, None)):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                conn.execute(
                    "INSERT INTO embedding (logo_id, vector, dim, embedder_version, crop_recipe, created_at, slot,"
                    " crc) VALUES (?, ?, ?, 'e', 'r', 't', ?, ?)",
                    (logo_id, vector, DIM, slot, crc),
                )
    finally:
        conn.close()
