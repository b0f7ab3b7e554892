"""``ImportStore`` in SQL: Robotoff's images, logos and embeddings under their own ids.

One transaction per batch: images (found by object name, else inserted under Robotoff's id when
that id is free), logos under their Robotoff id, embeddings with their change-log rows (a
derived index catches up from them), recorded failures, then the checkpoint. Rows go in as
multi-row ``INSERT ... VALUES`` statements, so a batch costs a few round trips whatever its size.
In PostgreSQL the identity sequences are moved past the imported ids, so logos created later get
ids above the imported range (SQLite's ``AUTOINCREMENT`` does this by itself).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.adapters.sql.database import Database, utc_now
from common.adapters.sql.tx import Tx
from common.errors import ConfigError
from common.imports.batch import ImportBatch, LogoColumns
from common.imports.rows import ROBOTOFF_EMBEDDER, ROBOTOFF_RECIPE, ImageRow
from common.ports.metadata_store import DELETED, INDEXED
from common.records.imports import BatchOutcome, Checkpoint

MAX_PARAMS = 30_000  # below SQLite's 32,766 parameters per statement (PostgreSQL allows 65,535)
SQLITE_CACHE_KIB = 131_072  # the import connection's page cache (128 MiB)
SQLITE_CHECKPOINT_PAGES = 50_000  # WAL pages (4 KiB) between checkpoints during an import
GENERATION = "0"  # an imported image has no storage generation: "the current one"
CHECKPOINT_COLUMNS = "source, kind, resume_after, rows_done, imported, failed, started_at, updated_at, finished_at"
IMAGE_COLUMNS = (
    "bucket, name, generation, width, height, status, error, detector_version, embedder_version, attempts,"
    " created_at, updated_at, barcode, off_image_id, source_image, uploaded_at, deleted, server_type"
)
LOGO_COLUMNS = (
    "id, image_id, box_index, y_min, x_min, y_max, x_max, score, label, detector_version, annotation_type,"
    " annotation_value, annotation_value_tag, taxonomy_value, username, completed_at, nearest_neighbors, text,"
    " created_at"
)


class SqlImports:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._written = self._analyzed = 0  # logos this process imported, and at the last ANALYZE

    @classmethod
    def of(cls, store: object) -> SqlImports:
        """The import side of a SQL metadata store (``SqliteStore``, ``PostgresStore``)."""
        db = getattr(store, "db", None)
        if not isinstance(db, Database):
            raise ConfigError(f"an import needs a SQL metadata store, not {type(store).__name__}")
        return cls(db)

    # --- checkpoints --------------------------------------------------------------------
    def checkpoint(self, source: str) -> Checkpoint | None:
        sql = f"SELECT {CHECKPOINT_COLUMNS} FROM import_checkpoint WHERE source = ?"
        row = self.db.run(lambda tx: tx.one(sql, source), write=False)
        return self._checkpoint(row) if row else None

    def begin(self, source: str, kind: str, restart: bool = False) -> Checkpoint:
        def work(tx: Tx) -> None:
            now = self.db.to_ts(utc_now())
            if restart:
                tx.exec("DELETE FROM import_checkpoint WHERE source = ?", source)
            tx.exec(
                "INSERT INTO import_checkpoint (source, kind, started_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (source) DO NOTHING",
                source,
                kind,
                now,
                now,
            )

        self.db.run(work, write=True)
        found = self.checkpoint(source)
        assert found is not None
        return found

    def finish(self, source: str) -> Checkpoint:
        self.db.vectors.flush()  # the batches' vectors are durable before the import says it finished
        sql = "UPDATE import_checkpoint SET finished_at = ?, updated_at = ? WHERE source = ?"
        self.db.run(lambda tx: tx.exec(sql, *[self.db.to_ts(utc_now())] * 2, source), write=True)
        found = self.checkpoint(source)
        assert found is not None
        return found

    def failures(self, source: str, limit: int = 20) -> list[tuple[int, str]]:
        sql = "SELECT logo_id, reason FROM import_failure WHERE source = ? ORDER BY logo_id LIMIT ?"
        rows = self.db.run(lambda tx: tx.rows(sql, source, int(limit)), write=False)
        return [(int(logo_id), str(reason)) for logo_id, reason in rows]

    def _checkpoint(self, row: Sequence[Any]) -> Checkpoint:
        source, kind, after, done, imported, failed, started, updated, finished = row
        return Checkpoint(
            str(source), str(kind), int(after), int(done), int(imported), int(failed),
            self.db.from_ts(started), self.db.from_ts(updated), None if finished is None else self.db.from_ts(finished),
        )  # fmt: skip

    # --- one batch ----------------------------------------------------------------------
    def write(self, source: str, bucket: str, batch: ImportBatch) -> BatchOutcome:
        def work(tx: Tx) -> BatchOutcome:
            if self.db.name == "sqlite":  # this connection only: a batch's pages stay in memory until commit,
                tx.exec(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")  # and the WAL is copied back (with its
                tx.exec(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")  # fsync) every ~200 MB
            self.db.lock_changes(tx)
            now = self.db.to_ts(utc_now())
            image_ids = self._images(tx, bucket, batch.images, now)
            outcome = BatchOutcome()
            failures = dict(batch.failures)
            fresh = self._logos(tx, batch.logos, image_ids, failures, outcome, now)
            self._embeddings(tx, fresh, batch.images, outcome, now)
            outcome.failed = len(failures)
            self._insert(
                tx,
                "INSERT INTO import_failure (source, logo_id, reason, created_at)",
                [(source, logo_id, reason[:2000], now) for logo_id, reason in sorted(failures.items())],
                " ON CONFLICT (source, logo_id) DO UPDATE SET reason = excluded.reason",
            )
            tx.exec(
                "UPDATE import_checkpoint SET resume_after = ?, rows_done = rows_done + ?, imported = imported + ?,"
                " failed = failed + ?, updated_at = ? WHERE source = ?",
                int(batch.position), batch.rows, outcome.imported, outcome.failed, now, source,
            )  # fmt: skip
            self._advance_sequences(tx)
            return outcome

        outcome = self.db.run(work, write=True)
        self._analyze_as_it_grows(outcome.imported)
        return outcome

    def _analyze_as_it_grows(self, imported: int) -> None:
        """PostgreSQL only: ``ANALYZE`` the tables an import fills each time its rows have doubled.
        Planned from the statistics of a small table, the batch's lookups by object name scanned
        every image of the bucket (20 ms a statement at 33k images, growing with each batch);
        autovacuum comes too late for a table that grows by 5,000 rows a second."""
        if self.db.name != "postgresql" or not imported:
            return
        self._written += imported
        if self._written < 2 * self._analyzed:
            return
        self.db.run(lambda tx: tx.exec("ANALYZE image, logo, embedding, embedding_change"), write=True)
        self._analyzed = self._written

    def _images(self, tx: Tx, bucket: str, images: dict[str, ImageRow], now: Any) -> dict[str, int]:
        """Object name -> image id: found by name, else inserted (under Robotoff's id when free)."""
        found = self._image_ids(tx, bucket, list(images))
        missing = [images[key] for key in images if key not in found]
        with_id = [image for image in missing if image.robotoff_id is not None]
        taken = {int(row[0]) for row in tx.rows_in("SELECT id FROM image WHERE id IN {ids}",
                                                    [int(image.robotoff_id or 0) for image in with_id])}  # fmt: skip
        with_id = [image for image in with_id if image.robotoff_id not in taken]
        head = f"INSERT INTO image (id, {IMAGE_COLUMNS})"
        rows = [(image.robotoff_id, *self._image(bucket, image, now)) for image in with_id]
        self._insert(tx, head, rows, " ON CONFLICT DO NOTHING", copy=True)  # ids free, names not found just now
        found.update(self._image_ids(tx, bucket, [image.key for image in with_id]))
        rest = [image for image in missing if image.key not in found]  # no id, or its id holds another object
        self._insert(tx, f"INSERT INTO image ({IMAGE_COLUMNS})", [self._image(bucket, i, now) for i in rest])
        found.update(self._image_ids(tx, bucket, [image.key for image in rest]))
        return found

    def _image(self, bucket: str, image: ImageRow, now: Any) -> tuple[Any, ...]:
        status, error = (DELETED, "deleted in Robotoff") if image.deleted else (INDEXED, None)
        uploaded = None if image.uploaded_at is None else self.db.to_ts(image.uploaded_at)
        return (
            bucket, image.key, GENERATION, image.width, image.height, status, error, image.detector_version,
            ROBOTOFF_EMBEDDER, 0, now, now, image.barcode, image.off_image_id, image.source_image, uploaded,
            int(image.deleted), image.server_type,
        )  # fmt: skip

    def _image_ids(self, tx: Tx, bucket: str, names: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(names), 500):
            part = names[start : start + 500]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT name, id FROM image WHERE bucket = ? AND generation = ? AND name IN ({marks})"
            found.update({str(name): int(id_) for name, id_ in tx.rows(sql, bucket, GENERATION, *part)})
        return found

    def _logos(
        self, tx: Tx, logos: LogoColumns, image_ids: dict[str, int], failures: dict[int, str],
        outcome: BatchOutcome, now: Any,
    ) -> LogoColumns:  # fmt: skip
        """Insert the logos not stored yet; returns those inserted now."""
        ids = logos.ids
        stored = {int(i): int(img) for i, img in tx.rows_in("SELECT id, image_id FROM logo WHERE id IN {ids}", ids)}
        boxes = "SELECT image_id, box_index FROM logo WHERE image_id IN {ids}"
        taken = {(int(i), int(b)) for i, b in tx.rows_in(boxes, sorted(set(image_ids.values())))}
        fresh = logos
        if stored:
            keep = []
            for k, (logo_id, key) in enumerate(zip(ids, logos.image_keys, strict=True)):
                if logo_id not in stored:
                    keep.append(k)
                elif stored[logo_id] == image_ids[key]:
                    outcome.present += 1
                    failures.pop(logo_id, None)  # recorded with the first import already
                else:
                    failures[logo_id] = f"logo id {logo_id} is already used by a logo of image {stored[logo_id]}"
            fresh = logos.select(keep)
        images = [image_ids[key] for key in fresh.image_keys]
        indexes = _box_indexes(list(zip(images, fresh.index, strict=True)), taken)
        mark = "(" + ", ".join(["?"] * 16 + [self.db.json_param, "?", "?"]) + ")"
        self._insert(tx, f"INSERT INTO logo ({LOGO_COLUMNS})", self._logo_rows(fresh, images, indexes, now),
                     mark=mark, copy=True)  # fmt: skip
        outcome.imported = len(fresh)
        return fresh

    def _logo_rows(self, logos: LogoColumns, images: list[int], indexes: list[int], now: Any) -> list[tuple[Any, ...]]:
        """The ``LOGO_COLUMNS`` rows, zipped from the columns (no Python code a row but the conversions)."""
        fields, to_ts = logos.fields, self.db.to_ts
        completed = [None if value is None else to_ts(value) for value in fields["completed_at"]]
        neighbours = [None if value is None else _json(value) for value in fields["nearest_neighbors"]]
        y_min, x_min, y_max, x_max = logos.boxes.T.tolist() if len(logos) else ([], [], [], [])
        return list(zip(
            logos.ids, images, indexes, y_min, x_min, y_max, x_max, logos.scores, fields["label"],
            fields["detector_version"], fields["annotation_type"], fields["annotation_value"],
            fields["annotation_value_tag"], fields["taxonomy_value"], fields["username"], completed, neighbours,
            fields["text"], itertools.repeat(now, len(logos)), strict=True,
        ))  # fmt: skip

    def _embeddings(
        self, tx: Tx, fresh: LogoColumns, images: dict[str, ImageRow], outcome: BatchOutcome, now: Any
    ) -> None:
        """The batch's embeddings through the store's vector storage (``db.vectors``: ``COPY`` into
        PostgreSQL, one block of the slot file beside SQLite), and their change-log rows."""
        deleted = np.fromiter((images[key].deleted for key in fresh.image_keys), dtype=bool, count=len(fresh))
        kept = fresh.has_vector & ~deleted
        outcome.out_of_search = int((fresh.has_vector & deleted).sum())
        outcome.without_embedding = int((~fresh.has_vector).sum())
        ids = np.asarray(fresh.ids, dtype=np.int64)[kept].tolist()
        # the logos were inserted just now: none has an embedding yet
        self.db.vectors.insert(tx, ids, fresh.vectors[kept], ROBOTOFF_EMBEDDER, ROBOTOFF_RECIPE, now)
        changes = list(zip(ids, itertools.repeat("upsert"), itertools.repeat(now)))
        self._insert(tx, "INSERT INTO embedding_change (logo_id, op, created_at)", changes, copy=True)
        outcome.embeddings = len(ids)

    def _insert(
        self, tx: Tx, head: str, rows: Sequence[tuple[Any, ...]], tail: str = "", mark: str | None = None,
        copy: bool = False,
    ) -> None:  # fmt: skip
        """SQLite: one prepared statement run for every row (its C loop). PostgreSQL: ``COPY`` for
        rows known to be new (``copy``), else multi-row ``VALUES`` lists: a few round trips a batch."""
        if not rows:
            return
        if self.db.name == "sqlite":
            tx.many(f"{head} VALUES " + (mark or "(" + ", ".join("?" * len(rows[0])) + ")") + tail, rows)
        elif copy:
            tx.copy_in(head.replace("INSERT INTO", "COPY", 1) + " FROM STDIN", copy_text(rows))
        else:
            insert_values(tx, head, rows, tail, mark)

    def _advance_sequences(self, tx: Tx) -> None:
        if self.db.name != "postgresql":
            return  # SQLite's AUTOINCREMENT remembers the largest id ever inserted
        for table in ("image", "logo"):
            tx.one(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max_id) FROM"
                f" (SELECT max(id) AS max_id FROM {table}) AS m WHERE max_id IS NOT NULL"
            )


def _box_indexes(pairs: list[tuple[int, int]], taken: set[tuple[int, int]]) -> list[int]:
    """Robotoff's ``index`` of each ``(image id, index)``; when the image already has a logo at that
    index (a second detection run of the same image), the next free one from 1000 on, so neither
    logo is lost. ``taken`` (the pairs stored) grows with the pairs given."""
    if taken.isdisjoint(pairs) and len(set(pairs)) == len(pairs):  # the usual batch: no clash at all
        taken.update(pairs)
        return [index for _, index in pairs]
    indexes = []
    for image_id, index in pairs:
        if (image_id, index) in taken:
            index = max([1000] + [b + 1 for i, b in taken if i == image_id])
        taken.add((image_id, index))
        indexes.append(index)
    return indexes


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def insert_values(tx: Tx, head: str, rows: Sequence[tuple[Any, ...]], tail: str = "", mark: str | None = None) -> None:
    """``head VALUES (...), (...) tail`` in as few statements as the parameter limit allows."""
    if not rows:
        return
    width = len(rows[0])
    mark = mark or "(" + ", ".join("?" * width) + ")"
    per = max(1, MAX_PARAMS // width)
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        tx.exec(f"{head} VALUES " + ", ".join([mark] * len(part)) + tail, *[v for row in part for v in row])


def copy_text(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Rows in ``COPY``'s text format: tab-separated, ``\\N`` for null, bytea as ``\\x`` hex."""
    times: dict[int, str] = {}  # a batch shares one "now": format it once

    def cell(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return _escape(value) if _SPECIAL.search(value) else value
        if kind is int or kind is float:
            return str(value)
        if value is None:
            return "\\N"
        if kind is dt.datetime:
            text = times.get(id(value))
            if text is None:
                text = times[id(value)] = value.isoformat()
            return text
        if isinstance(value, (bytes, bytearray, memoryview)):
            return "\\\\x" + bytes(value).hex()
        if isinstance(value, bool):
            return "t" if value else "f"
        return _escape(str(value))

    return "".join(["\t".join([cell(v) for v in row]) + "\n" for row in rows]).encode()


_SPECIAL = re.compile(r"[\\\t\n\r]")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
