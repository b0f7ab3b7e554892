"""The metadata store, written once in portable SQL; a dialect object adapts it to an engine.

``SqliteStore`` and ``PostgresStore`` are this class with their dialect. Every write is one
transaction and idempotent on its natural key:

- ``upsert_image``: ``INSERT ... ON CONFLICT DO NOTHING`` then ``SELECT`` (the unique key is
  ``(bucket, name, generation)``);
- ``record_detections``: the image row is locked first (``FOR UPDATE`` in PostgreSQL, the
  database write lock of ``BEGIN IMMEDIATE`` in SQLite), so of two concurrent callers one
  inserts the logos and the other returns them;
- ``save_embeddings``: under the change-log lock, inserts the embeddings not stored yet through
  the dialect's vector storage (``common.adapters.sql.vectors``: inline in PostgreSQL, a slot
  file beside SQLite); every embedding inserted or deleted appends an ``embedding_change`` row in
  the same transaction, from which a derived ANN index catches up. Deleting an embedding deletes
  its row; in SQLite its record in the slot file stays a hole (``vector_stats``).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from common.adapters.migrations import apply_migrations
from common.adapters.sql.database import Database, utc_now
from common.adapters.sql.neighbour_lists import NeighbourListQueries
from common.adapters.sql.off_images import OffImageQueries
from common.adapters.sql.records import (
    IMAGE_COLUMNS,
    LOGO_COLUMNS,
    image_from_row,
    load_json,
    logo_from_row,
)
from common.adapters.sql.tx import CHUNK, Tx
from common.adapters.sql.vectors import COLUMNS as VECTOR_COLUMNS
from common.adapters.sql.vectors import Loaded
from common.domain import Detection, ObjectRef
from common.errors import NotFoundError
from common.off_images import image_identity
from common.ports.metadata_store import DELETED, PENDING
from common.records.logos import Change, ImageRecord, LogoRecord, VectorCheck

logger = logging.getLogger(__name__)

INSERT_IMAGE = (
    "INSERT INTO image (bucket, name, generation, size, content_type, status, attempts, created_at, updated_at,"
    " barcode, off_image_id, source_image, uploaded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, name, generation) DO NOTHING RETURNING id"
)
INSERT_LOGO = (
    "INSERT INTO logo (image_id, box_index, y_min, x_min, y_max, x_max, score, label, detector_version, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

SET_EMBEDDER = (
    "UPDATE image SET embedder_version = ?, updated_at = ? WHERE id IN (SELECT image_id FROM logo WHERE id IN {ids})"
)


class SqlStore(NeighbourListQueries, OffImageQueries):
    """``MetadataStore`` over a SQL database; the schema is migrated when the store opens.

    ``off_image_prefix``: the bucket folder under which object names follow Open Food Facts'
    layout (``common.off_images``); every new image row gets its barcode, image id and path.
    """

    def __init__(self, db: Database, migrate: bool = True, off_image_prefix: str = "") -> None:
        self.db = db  # the dialect and its connection pool
        self.off_image_prefix = off_image_prefix
        if migrate:
            try:
                db.run(lambda tx: apply_migrations(tx, db), write=True)
            except BaseException:
                db.close()
                raise

    # --- images -------------------------------------------------------------------------
    def upsert_image(self, ref: ObjectRef, size: int | None, content_type: str | None) -> tuple[ImageRecord, bool]:
        key = (str(ref.bucket), str(ref.name), str(ref.generation))
        off = image_identity(key[1], self.off_image_prefix)

        def work(tx: Tx) -> tuple[ImageRecord, bool]:
            now = self.db.to_ts(utc_now())
            size_ = None if size is None else int(size)
            identity = (off.barcode, off.image_id, off.source_image, now)
            created = tx.rows(INSERT_IMAGE, *key, size_, content_type, PENDING, now, now, *identity)
            row = tx.one(f"SELECT {IMAGE_COLUMNS} FROM image WHERE bucket = ? AND name = ? AND generation = ?", *key)
            assert row is not None  # inserted, or already there (images are never deleted)
            return image_from_row(row, self.db), bool(created)

        return self.db.run(work, write=True)

    def get_image(self, image_id: int) -> ImageRecord | None:
        rows = self._read(f"SELECT {IMAGE_COLUMNS} FROM image WHERE id = ?", int(image_id))
        return image_from_row(rows[0], self.db) if rows else None

    def find_images(self, bucket: str, name: str) -> list[ImageRecord]:
        """Every generation of an object, newest first; numeric generations (GCS) compare as numbers."""
        rows = self._read(
            f"SELECT {IMAGE_COLUMNS} FROM image WHERE bucket = ? AND name = ?"
            " ORDER BY length(generation) DESC, generation DESC, id DESC",
            str(bucket),
            str(name),
        )
        return [image_from_row(row, self.db) for row in rows]

    def stalled_images(
        self, statuses: Sequence[str], updated_before: dt.datetime, limit: int = 1000
    ) -> list[ImageRecord]:
        """Images in one of ``statuses`` untouched since ``updated_before``, oldest id first."""
        marks = ", ".join("?" for _ in statuses)
        rows = self._read(
            f"SELECT {IMAGE_COLUMNS} FROM image WHERE status IN ({marks}) AND updated_at < ? ORDER BY id LIMIT ?",
            *[str(s) for s in statuses],
            self.db.to_ts(updated_before),
            int(limit),
        )
        return [image_from_row(row, self.db) for row in rows]

    def mark_image(self, image_id: int, status: str, error: str | None = None) -> None:
        deleted = int(status == DELETED)
        self._update_image(image_id, "status = ?, error = ?, deleted = ?", str(status), error, deleted)

    def count_attempt(self, image_id: int, error: str) -> int:
        return self._update_image(image_id, "attempts = attempts + 1, error = ?", str(error))

    def _update_image(self, image_id: int, assignments: str, *params: Any) -> int:
        def work(tx: Tx) -> int:
            now = self.db.to_ts(utc_now())
            sql = f"UPDATE image SET {assignments}, updated_at = ? WHERE id = ? RETURNING attempts"
            row = tx.one(sql, *params, now, int(image_id))
            if row is None:
                raise NotFoundError(f"image {image_id} does not exist")
            return int(row[0])

        return self.db.run(work, write=True)

    # --- logos --------------------------------------------------------------------------
    def record_detections(
        self, image_id: int, width: int, height: int, detections: Sequence[Detection], detector_version: str
    ) -> list[LogoRecord]:
        image_id, version = int(image_id), str(detector_version)

        def work(tx: Tx) -> list[LogoRecord]:
            self._lock_image(tx, image_id)
            existing = _logos_where(tx, "l.image_id = ?", image_id)
            if existing:
                return existing
            now = self.db.to_ts(utc_now())
            rows = [
                (image_id, index, *(float(v) for v in d.box.as_list()), float(d.score), str(d.label), version, now)
                for index, d in enumerate(detections)
            ]
            tx.many(INSERT_LOGO, rows)
            sql = "UPDATE image SET width = ?, height = ?, detector_version = ?, updated_at = ? WHERE id = ?"
            tx.exec(sql, int(width), int(height), version, now, image_id)
            return _logos_where(tx, "l.image_id = ?", image_id)

        return self.db.run(work, write=True)

    def logos_of_image(self, image_id: int) -> list[LogoRecord]:
        return self.db.run(lambda tx: _logos_where(tx, "l.image_id = ?", int(image_id)), write=False)

    def get_logos(self, logo_ids: Sequence[int]) -> list[LogoRecord]:
        """The logos in the order asked for; unknown ids are left out."""
        wanted = _distinct(logo_ids)
        sql = f"SELECT {LOGO_COLUMNS} FROM logo l WHERE l.id IN {{ids}}"
        rows = self.db.run(lambda tx: tx.rows_in(sql, wanted), write=False)
        by_id = {logo.id: logo for logo in map(logo_from_row, rows)}
        return [by_id[i] for i in wanted if i in by_id]

    def delete_logos_of_image(self, image_id: int, keep_annotated: bool = True) -> list[int]:
        """Take the image's logos out of search; returns every logo id deleted or unindexed.

        Each embedding is deleted (with a ``delete`` change; a vector kept in a slot file leaves
        its record there as a hole, never reused, counted by ``vector_stats``). A logo row is deleted too, unless
        it is annotated and ``keep_annotated`` holds: the annotation outlives the image.
        """

        def work(tx: Tx) -> list[int]:
            self.db.lock_changes(tx)
            self._lock_image(tx, image_id)
            rows = tx.rows(
                "SELECT l.id, l.annotation_type IS NOT NULL OR l.annotation_value IS NOT NULL, e.logo_id"
                " FROM logo l LEFT JOIN embedding e ON e.logo_id = l.id WHERE l.image_id = ?",
                int(image_id),
            )
            embedded = [int(logo_id) for logo_id, _, has in rows if has is not None]
            doomed = [int(logo_id) for logo_id, annotated, _ in rows if not (keep_annotated and annotated)]
            tx.rows_in("DELETE FROM embedding WHERE logo_id IN {ids}", embedded)
            _log_changes(tx, embedded, "delete", self.db.to_ts(utc_now()))
            tx.rows_in("DELETE FROM logo WHERE id IN {ids}", doomed)
            return sorted(set(embedded) | set(doomed))

        return self.db.run(work, write=True)

    def random_logo_with_embedding(self) -> int | None:
        """A random id in [min, max], then the first embedded logo at or above it: two index probes."""

        def work(tx: Tx) -> int | None:
            low, high = tx.one("SELECT min(logo_id), max(logo_id) FROM embedding") or (None, None)
            if low is None:
                return None
            pick = random.randint(int(low), int(high))
            row = tx.one("SELECT logo_id FROM embedding WHERE logo_id >= ? ORDER BY logo_id LIMIT 1", pick)
            return int(row[0]) if row else None

        return self.db.run(work, write=False)

    # --- embeddings ---------------------------------------------------------------------
    def save_embeddings(
        self, logo_ids: Sequence[int], vectors: np.ndarray, embedder_version: str, crop_recipe: str
    ) -> list[int]:
        """Insert the embeddings not stored yet; logos that no longer exist are skipped."""
        ids = [int(i) for i in logo_ids]
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids) or len(set(ids)) != len(ids):
            raise ValueError(f"expected one vector per distinct logo id: {len(ids)} ids, vectors {matrix.shape}")
        version, recipe = str(embedder_version), str(crop_recipe)

        def work(tx: Tx) -> list[int]:
            self.db.lock_changes(tx)  # every embedding writer holds it: "not stored yet" stays true
            present = {int(row[0]) for row in tx.rows_in("SELECT id FROM logo WHERE id IN {ids}", ids)}
            if len(present) < len(ids):
                logger.warning("not saving embeddings of deleted logos %s", sorted(set(ids) - present))
            stored = {int(row[0]) for row in tx.rows_in("SELECT logo_id FROM embedding WHERE logo_id IN {ids}", ids)}
            new = [k for k, logo_id in enumerate(ids) if logo_id in present and logo_id not in stored]
            inserted = [ids[k] for k in new]
            now = self.db.to_ts(utc_now())
            self.db.vectors.insert(tx, inserted, matrix[new], version, recipe, now)
            _log_changes(tx, inserted, "upsert", now)
            tx.rows_in(SET_EMBEDDER, inserted, version, now)
            return inserted

        return self.db.run(work, write=True)

    def get_embeddings(self, logo_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of ``logo_ids``; unknown ids, and unreadable vectors (logged), are left out."""
        sql = f"SELECT {VECTOR_COLUMNS} FROM embedding WHERE logo_id IN {{ids}}"
        ids = _distinct(logo_ids)
        rows = self.db.run(lambda tx: tx.rows_in(sql, ids), write=False, one_statement=len(ids) <= CHUNK)
        return self.db.vectors.read_by_id(rows)

    def iter_embeddings(self, batch_size: int = 10_000) -> Iterator[tuple[list[int], np.ndarray]]:
        """Keyset pages in logo id order, one short read transaction per batch (unreadable vectors
        are logged and left out)."""
        for loaded in self._embedding_pages(batch_size, log=True):
            if loaded.ids:
                yield loaded.ids, loaded.matrix

    def check_vectors(self, batch_size: int = 10_000) -> VectorCheck:
        """Read every stored vector: the logos whose vector is unreadable (to re-embed or re-import),
        and per vector file its holes (records of deleted embeddings, never reused)."""
        unreadable: list[int] = []
        checked = 0
        for loaded in self._embedding_pages(batch_size, log=False):
            checked += len(loaded.ids) + len(loaded.unreadable)
            unreadable += loaded.unreadable
        if unreadable:
            logger.error("%d stored embedding(s) are unreadable: re-embed or re-import logos %s", len(unreadable),
                         unreadable[:20])  # fmt: skip
        return VectorCheck(checked, unreadable, self.vector_stats())

    def vector_stats(self) -> list[dict[str, Any]]:
        """Per vector file: records, live rows, holes and the dead fraction (empty when inline)."""
        return self.db.run(self.db.vectors.stats, write=False)

    def _embedding_pages(self, batch_size: int, log: bool) -> Iterator[Loaded]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        after = -1
        sql = f"SELECT {VECTOR_COLUMNS} FROM embedding WHERE logo_id > ? ORDER BY logo_id LIMIT ?"
        while rows := self._read(sql, after, int(batch_size)):
            after = int(rows[-1][0])
            yield self.db.vectors.read(rows, log=log)

    def changes_since(self, seq: int, limit: int = 10_000) -> list[Change]:
        sql = "SELECT seq, logo_id, op FROM embedding_change WHERE seq > ? ORDER BY seq LIMIT ?"
        return [Change(int(s), int(logo_id), str(op)) for s, logo_id, op in self._read(sql, int(seq), int(limit))]

    def last_change_seq(self) -> int:
        return int(self._read("SELECT coalesce(max(seq), 0) FROM embedding_change")[0][0])

    def embedding_count(self) -> int:
        return int(self._read("SELECT count(*) FROM embedding")[0][0])

    # --- neighbours ---------------------------------------------------------------------
    def get_neighbours(self, logo_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        sql = "SELECT id, nearest_neighbors FROM logo WHERE id IN {ids} AND nearest_neighbors IS NOT NULL"
        rows = self.db.run(lambda tx: tx.rows_in(sql, _distinct(logo_ids)), write=False)
        return {int(logo_id): load_json(value) for logo_id, value in rows}

    # --- operations ---------------------------------------------------------------------
    def ping(self) -> None:
        self._read("SELECT 1")

    def close(self) -> None:
        self.db.close()

    # --- helpers ------------------------------------------------------------------------
    def _read(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.db.run(lambda tx: tx.rows(sql, *params), write=False)

    def _lock_image(self, tx: Tx, image_id: int) -> None:
        if tx.one(f"SELECT id FROM image WHERE id = ?{self.db.lock_row}", int(image_id)) is None:
            raise NotFoundError(f"image {image_id} does not exist")


def _logos_where(tx: Tx, condition: str, *params: Any) -> list[LogoRecord]:
    rows = tx.rows(f"SELECT {LOGO_COLUMNS} FROM logo l WHERE {condition} ORDER BY l.id", *params)
    return [logo_from_row(row) for row in rows]


def _log_changes(tx: Tx, logo_ids: list[int], op: str, now: Any) -> None:
    sql = "INSERT INTO embedding_change (logo_id, op, created_at) VALUES (?, ?, ?)"
    tx.many(sql, [(logo_id, op, now) for logo_id in logo_ids])


def _distinct(ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids))
