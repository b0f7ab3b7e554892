"""Contract tests every ``MetadataStore`` must pass (SQLite and PostgreSQL run the same ones).

A test module subclasses ``StoreContract`` and provides four fixtures:
``open_store`` (a factory opening a new store on the test database, closed at teardown),
``store`` (one such store), ``raw`` (runs literal SQL on the database outside the store,
committed, and returns the rows) and ``stored_bytes`` (a logo's vector as the engine holds it,
read outside the store: the row's bytes, or its record in the slot file).
"""

from __future__ import annotations

import datetime as dt
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from common.domain import Box, Detection, ObjectRef
from common.errors import NotFoundError
from common.ports.metadata_store import FAILED, INDEXED, PENDING, MetadataStore

Raw = Callable[[str], list[tuple[Any, ...]]]

DETECTIONS = [
    Detection(Box(0.1, 0.2, 0.5, 0.6), 0.875, "object"),
    Detection(Box(0.0, 0.0, 1.0, 1.0), 0.25, "brand"),
    Detection(Box(0.3, 0.4, 0.35, 0.45), 0.5, "object"),
]


def _utc(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.utcoffset() == dt.timedelta(0), text
    return value


def _image_with_logos(store: MetadataStore, name: str = "a.jpg", count: int = 3) -> tuple[int, list[int]]:
    image, _ = store.upsert_image(ObjectRef("bucket", name, "1"), 123, "image/jpeg")
    logos = store.record_detections(image.id, 640, 480, DETECTIONS[:count], "det-1")
    return image.id, [logo.id for logo in logos]


def _unit_vectors(count: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    matrix = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


class StoreContract:
    # --- images -------------------------------------------------------------------------
    def test_upsert_image_creates_once(self, store: MetadataStore) -> None:
        ref = ObjectRef("bucket", "dir/photo.jpg", "1700000000000001")
        first, created = store.upsert_image(ref, 2048, "image/jpeg")
        again, created_again = store.upsert_image(ref, 9999, "image/png")
        assert (created, created_again) == (True, False)
        assert again == first
        assert (first.ref, first.size, first.content_type) == (ref, 2048, "image/jpeg")
        assert (first.status, first.attempts, first.error, first.width) == (PENDING, 0, None, None)
        assert _utc(first.created_at) == _utc(first.updated_at)
        assert abs(_utc(first.created_at) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        assert store.get_image(first.id) == first
        assert store.get_image(first.id + 1000) is None

    def test_generations_are_distinct_images_newest_first(self, store: MetadataStore) -> None:
        for generation in ("9", "10", "2"):
            store.upsert_image(ObjectRef("bucket", "p.jpg", generation), None, None)
        store.upsert_image(ObjectRef("bucket", "other.jpg", "11"), None, None)
        store.upsert_image(ObjectRef("other-bucket", "p.jpg", "12"), None, None)
        found = store.find_images("bucket", "p.jpg")
        assert [image.ref.generation for image in found] == ["10", "9", "2"]
        assert len({image.id for image in found}) == 3

    def test_mark_image_and_count_attempts(self, store: MetadataStore) -> None:
        image, _ = store.upsert_image(ObjectRef("bucket", "x.jpg"), None, None)
        assert [store.count_attempt(image.id, f"timeout {n}") for n in range(3)] == [1, 2, 3]
        store.mark_image(image.id, FAILED, "corrupt")
        marked = store.get_image(image.id)
        assert marked is not None
        assert (marked.status, marked.error, marked.attempts) == (FAILED, "corrupt", 3)
        assert _utc(marked.updated_at) >= _utc(image.updated_at)
        store.mark_image(image.id, INDEXED)
        assert store.get_image(image.id).error is None  # type: ignore[union-attr]
        with pytest.raises(NotFoundError):
            store.mark_image(image.id + 1000, FAILED, "x")
        with pytest.raises(NotFoundError):
            store.count_attempt(image.id + 1000, "x")

    # --- logos --------------------------------------------------------------------------
    def test_record_detections_stores_once(self, store: MetadataStore) -> None:
        image, _ = store.upsert_image(ObjectRef("bucket", "a.jpg"), None, None)
        logos = store.record_detections(image.id, 640, 480, DETECTIONS, "det-1")
        assert [(logo.box, logo.score, logo.label) for logo in logos] == [(d.box, d.score, d.label) for d in DETECTIONS]
        assert all(logo.image_id == image.id and logo.detector_version == "det-1" for logo in logos)
        assert not any(logo.has_embedding or logo.nearest_neighbors or logo.annotation_type for logo in logos)
        repeat = store.record_detections(image.id, 1, 1, DETECTIONS[:1], "det-2")
        assert repeat == logos
        assert store.logos_of_image(image.id) == logos
        stored = store.get_image(image.id)
        assert stored is not None
        assert (stored.width, stored.height, stored.detector_version) == (640, 480, "det-1")
        with pytest.raises(NotFoundError):
            store.record_detections(image.id + 1000, 1, 1, DETECTIONS, "det-1")

    def test_get_logos_in_requested_order(self, store: MetadataStore) -> None:
        _, ids = _image_with_logos(store)
        wanted = [ids[2], 999_999, ids[0], ids[2]]
        assert [logo.id for logo in store.get_logos(wanted)] == [ids[2], ids[0]]
        assert store.get_logos([]) == []

    def test_concurrent_record_detections_make_one_set(self, open_store: Callable[[], MetadataStore]) -> None:
        stores = [open_store(), open_store()]
        image, _ = stores[0].upsert_image(ObjectRef("bucket", "race.jpg"), None, None)
        barrier = threading.Barrier(2)
        results: list[list[int]] = []

        def record(store: MetadataStore, detections: list[Detection]) -> None:
            barrier.wait()
            results.append([logo.id for logo in store.record_detections(image.id, 10, 10, detections, "det")])

        threads = [
            threading.Thread(target=record, args=(stores[0], DETECTIONS)),
            threading.Thread(target=record, args=(stores[1], DETECTIONS[:2])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 2 and results[0] == results[1]
        assert len(stores[0].logos_of_image(image.id)) == len(results[0]) in (2, 3)

    def test_concurrent_upserts_create_one_image(self, open_store: Callable[[], MetadataStore]) -> None:
        stores = [open_store() for _ in range(3)]
        barrier = threading.Barrier(len(stores))
        outcomes: list[tuple[int, bool]] = []

        def upsert(store: MetadataStore) -> None:
            barrier.wait()
            image, created = store.upsert_image(ObjectRef("bucket", "same.jpg", "5"), None, None)
            outcomes.append((image.id, created))

        threads = [threading.Thread(target=upsert, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len({image_id for image_id, _ in outcomes}) == 1
        assert sorted(created for _, created in outcomes) == [False, False, True]

    def test_injection_strings_are_stored_verbatim(self, store: MetadataStore, raw: Raw) -> None:
        name = "x'); DROP TABLE image; --?%s"
        label = "'; DELETE FROM logo WHERE '1'='1"
        image, _ = store.upsert_image(ObjectRef('b"ucket', name, "1' OR '1'='1"), None, "text/html'--")
        logos = store.record_detections(image.id, 5, 5, [Detection(Box(0, 0, 1, 1), 0.5, label)], "v'1")
        assert store.find_images('b"ucket', name)[0].ref == ObjectRef('b"ucket', name, "1' OR '1'='1")
        assert store.get_logos([logos[0].id])[0].label == label
        assert raw("SELECT count(*) FROM image")[0][0] == 1
        assert raw("SELECT label FROM logo") == [(label,)]

    # --- embeddings ---------------------------------------------------------------------
    def test_save_embeddings_inserts_only_missing(self, store: MetadataStore) -> None:
        _, ids = _image_with_logos(store)
        vectors = _unit_vectors(3)
        assert store.save_embeddings(ids[:2], vectors[:2], "clip-1", "robotoff-v1") == ids[:2]
        assert store.save_embeddings(ids, vectors * 0 + 1, "clip-1", "robotoff-v1") == [ids[2]]
        assert store.save_embeddings(ids, vectors, "clip-1", "robotoff-v1") == []
        stored = store.get_embeddings([*ids, 999_999])
        assert sorted(stored) == ids
        np.testing.assert_array_equal(stored[ids[0]], vectors[0])
        np.testing.assert_array_equal(stored[ids[2]], np.ones(8, dtype=np.float32))
        assert stored[ids[0]].dtype == np.float32
        assert all(logo.has_embedding for logo in store.get_logos(ids))
        assert store.embedding_count() == 3

    def test_save_embeddings_skips_unknown_logos_and_checks_shapes(self, store: MetadataStore) -> None:
        _, ids = _image_with_logos(store, count=1)
        assert store.save_embeddings([ids[0], 999_999], _unit_vectors(2), "clip-1", "r") == [ids[0]]
        with pytest.raises(ValueError):
            store.save_embeddings(ids, _unit_vectors(2), "clip-1", "r")
        with pytest.raises(ValueError):
            store.save_embeddings([ids[0], ids[0]], _unit_vectors(2), "clip-1", "r")

    def test_vectors_are_little_endian_float32_bytes(
        self, store: MetadataStore, raw: Raw, stored_bytes: Callable[[int], bytes]
    ) -> None:
        _, ids = _image_with_logos(store, count=1)
        values = [0.5, -1.25, 3.0, 0.0]
        store.save_embeddings(ids, np.array([values], dtype=np.float64), "clip-1", "robotoff-v1")
        ((dim, version, recipe),) = raw("SELECT dim, embedder_version, crop_recipe FROM embedding")
        assert stored_bytes(ids[0]) == struct.pack("<4f", *values)
        assert (dim, version, recipe) == (4, "clip-1", "robotoff-v1")

    def test_change_log_follows_inserts(self, store: MetadataStore) -> None:
        assert (store.last_change_seq(), store.changes_since(0)) == (0, [])
        _, ids = _image_with_logos(store)
        store.save_embeddings(ids, _unit_vectors(3), "clip-1", "r")
        store.save_embeddings(ids, _unit_vectors(3), "clip-1", "r")  # a repeat logs nothing
        changes = store.changes_since(0)
        assert [(c.logo_id, c.op) for c in changes] == [(i, "upsert") for i in ids]
        assert [c.seq for c in changes] == sorted({c.seq for c in changes})
        assert store.last_change_seq() == changes[-1].seq
        assert store.changes_since(changes[0].seq, limit=1) == [changes[1]]
        assert store.changes_since(changes[-1].seq) == []

    def test_iter_embeddings_in_batches(self, store: MetadataStore) -> None:
        assert list(store.iter_embeddings()) == []
        ids = _image_with_logos(store, "a.jpg")[1] + _image_with_logos(store, "b.jpg", count=2)[1]
        vectors = _unit_vectors(5, seed=3)
        store.save_embeddings(ids, vectors, "clip-1", "r")
        batches = list(store.iter_embeddings(batch_size=2))
        assert [len(batch_ids) for batch_ids, _ in batches] == [2, 2, 1]
        assert [i for batch_ids, _ in batches for i in batch_ids] == sorted(ids)
        order = np.argsort(ids)
        np.testing.assert_array_equal(np.concatenate([m for _, m in batches]), vectors[order])

    def test_random_logo_only_among_embedded(self, store: MetadataStore) -> None:
        assert store.random_logo_with_embedding() is None
        ids = _image_with_logos(store, "a.jpg")[1] + _image_with_logos(store, "b.jpg")[1]
        embedded = [ids[1], ids[3], ids[4]]
        store.save_embeddings(embedded, _unit_vectors(3), "clip-1", "r")
        picks = {store.random_logo_with_embedding() for _ in range(200)}
        assert picks <= set(embedded)
        assert ids[4] in picks and len(picks) >= 2

    def test_delete_logos_keeps_annotated_records(self, store: MetadataStore, raw: Raw) -> None:
        image_id, ids = _image_with_logos(store)
        store.save_embeddings(ids[:2], _unit_vectors(2), "clip-1", "r")
        raw(f"UPDATE logo SET annotation_type = 'brand', annotation_value = 'acme' WHERE id = {ids[0]}")
        before = store.last_change_seq()
        assert store.delete_logos_of_image(image_id) == sorted(ids)
        kept = store.logos_of_image(image_id)
        assert [(logo.id, logo.annotation_value, logo.has_embedding) for logo in kept] == [(ids[0], "acme", False)]
        assert store.get_embeddings(ids) == {}
        assert sorted((c.logo_id, c.op) for c in store.changes_since(before)) == [(i, "delete") for i in ids[:2]]
        assert store.embedding_count() == 0
        assert store.delete_logos_of_image(image_id, keep_annotated=False) == [ids[0]]
        assert store.logos_of_image(image_id) == []
        assert store.changes_since(before + 2) == []  # nothing left in the index to delete

    def test_delete_logos_of_unknown_image(self, store: MetadataStore) -> None:
        with pytest.raises(NotFoundError):
            store.delete_logos_of_image(424242)

    # --- neighbours ---------------------------------------------------------------------
    def test_neighbours_round_trip(self, store: MetadataStore) -> None:
        _, ids = _image_with_logos(store)
        store.set_neighbours(ids[0], [ids[2], ids[1]], [0.015625, 0.25])
        found = store.get_neighbours([ids[0], ids[1], 999_999])
        assert list(found) == [ids[0]]
        assert (found[ids[0]]["logo_ids"], found[ids[0]]["distances"]) == ([ids[2], ids[1]], [0.015625, 0.25])
        assert abs(_utc(found[ids[0]]["updated_at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        assert store.get_logos([ids[0]])[0].nearest_neighbors == found[ids[0]]
        with pytest.raises(NotFoundError):
            store.set_neighbours(999_999, [1], [0.5])
        with pytest.raises(ValueError):
            store.set_neighbours(ids[0], [1, 2], [0.5])

    # --- operations ---------------------------------------------------------------------
    def test_reopening_keeps_data_and_migrates_once(self, open_store: Callable[[], MetadataStore], raw: Raw) -> None:
        first = open_store()
        image, _ = first.upsert_image(ObjectRef("bucket", "keep.jpg"), None, None)
        versions = raw("SELECT version FROM schema_migrations ORDER BY version")
        second = open_store()
        second.ping()
        assert second.get_image(image.id) == image
        assert raw("SELECT version FROM schema_migrations ORDER BY version") == versions
        assert versions and versions[0] == (1,)
