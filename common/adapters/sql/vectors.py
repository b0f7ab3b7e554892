"""Where the SQL store keeps its embedding vectors: in the row, or in a slot file beside SQLite.

Every ``embedding`` row has ``dim`` and either an inline ``vector`` (raw little-endian float32)
or a ``slot`` and the ``crc`` (crc32) of that record in ``SlotFile`` ``<database>.vectors-<dim>.f32``.

- ``InlineVectors`` (PostgreSQL): the vector in the row, ``COPY`` for new rows.
- ``SlotVectors`` (SQLite): a 2 KiB vector took a whole 4 KiB page, and the WAL wrote it twice;
  in the file it costs 2 KiB once. Inside the write transaction (SQLite's ``BEGIN IMMEDIATE``,
  one writer across processes) a batch gets consecutive slots from ``vector_slots.next_slot``
  (a high-water mark, so a slot is never handed out twice, even after its row was deleted), is
  written with one ``pwrite``, then its rows and the new mark are inserted and committed. A writer
  killed before its commit leaves records no row refers to; the next writer takes the same slots
  again. Nothing is fsynced per transaction; ``flush`` (fdatasync) runs at the end of an import
  and at close. After a power cut a committed row may meet a stale record: its crc says so, and
  the embedding reads as missing (logged, and listed by ``SqlStore.check_vectors``). Deleting an
  embedding deletes its row only: its record stays a hole, counted in ``stats``.

Readers read only slots of committed rows, written before the commit and never rewritten. Rows
written inline before schema version 5 are read from the row, in both engines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zlib
from collections.abc import Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from common.adapters.sql import pg_copy
from common.adapters.sql.slot_file import VECTOR_DTYPE, SlotFile
from common.adapters.sql.tx import Tx

logger = logging.getLogger(__name__)

COLUMNS = "logo_id, vector, dim, slot, crc"  # what ``read`` takes, in this order
INSERT_INLINE = "INSERT INTO embedding (logo_id, vector, dim, embedder_version, crop_recipe, created_at)"
INSERT_SLOT = "INSERT INTO embedding (logo_id, dim, embedder_version, crop_recipe, created_at, slot, crc)"
NEXT_SLOT = (
    "SELECT max(s) FROM (SELECT next_slot AS s FROM vector_slots WHERE dim = ?"
    " UNION ALL SELECT max(slot) + 1 AS s FROM embedding WHERE dim = ? AND slot IS NOT NULL) AS m"
)
MOVE_MARK = (
    "INSERT INTO vector_slots (dim, next_slot) VALUES (?, ?)"
    " ON CONFLICT (dim) DO UPDATE SET next_slot = excluded.next_slot"
)
SHOWN_IDS = 20  # logo ids quoted in one log line


@dataclasses.dataclass
class Loaded:
    ids: list[int]  # in the order of the rows, without the unreadable ones
    matrix: np.ndarray  # float32 [len(ids), dim]
    unreadable: list[int]  # rows whose record is missing or fails its crc


class VectorStorage:
    """Base: reads rows of ``COLUMNS``; an inline vector is taken from its row."""

    def insert(
        self, tx: Tx, logo_ids: Sequence[int], matrix: np.ndarray, embedder_version: str, crop_recipe: str, now: Any
    ) -> None:
        """Insert embedding rows for ``logo_ids``, known to have none (the caller holds the change
        lock), with ``matrix`` [len(logo_ids), dim] as their vectors."""
        data = np.ascontiguousarray(matrix, dtype=VECTOR_DTYPE)
        if data.ndim != 2 or data.shape[0] != len(logo_ids) or (len(data) and data.shape[1] < 1):
            raise ValueError(f"expected one vector per logo id: {len(logo_ids)} ids, vectors {data.shape}")
        if len(data):
            self._insert(tx, [int(i) for i in logo_ids], data, (str(embedder_version), str(crop_recipe), now))

    def _insert(self, tx: Tx, logo_ids: list[int], data: np.ndarray, about: tuple[str, str, Any]) -> None:
        """``insert`` of checked, little-endian vectors; ``about``: (embedder version, crop recipe, now)."""
        raise NotImplementedError

    def read(self, rows: Sequence[Sequence[Any]], log: bool = True) -> Loaded:
        """The vectors of ``rows`` (one dimension); an unreadable one is left out and logged."""
        if not rows:
            return Loaded([], np.zeros((0, 0), dtype=np.float32), [])
        ids, blobs, dims, slots, crcs = (list(column) for column in zip(*rows, strict=True))
        if len(set(dims)) > 1:
            raise ValueError(f"embeddings of several dimensions in one read: {sorted(set(dims))}")
        dim, inline = int(dims[0]), len(rows) - blobs.count(None)
        if inline == 0:  # every vector in the slot file: no copy but the read itself
            matrix, found = self.records(dim, np.array(slots, dtype=np.int64))
            slotted = np.arange(len(rows))
        else:
            matrix = np.empty((len(rows), dim), dtype=np.float32)
            slotted = np.array([k for k, blob in enumerate(blobs) if blob is None], dtype=np.int64)
            for k, blob in enumerate(blobs):
                if blob is not None:
                    matrix[k] = np.frombuffer(bytes(blob), dtype=VECTOR_DTYPE)
            found = np.ones(len(rows), dtype=bool)
            if len(slotted):
                matrix[slotted], found[slotted] = self.records(dim, np.array([slots[k] for k in slotted], np.int64))
        checked = matrix if inline == 0 else matrix[slotted]
        stored = np.array(crcs if inline == 0 else [crcs[k] for k in slotted], dtype=np.int64)
        bad = slotted[~found[slotted] | (_crc32s(checked) != stored)]
        ids = [int(i) for i in ids]
        if not len(bad):
            return Loaded(ids, matrix, [])
        unreadable = [ids[k] for k in bad.tolist()]
        if log:
            logger.error(
                "%d embedding(s) unreadable: the record in the %d-d vector file is missing or fails its crc32"
                " (stale after a power cut, or overwritten); read as missing. Re-embed or re-import these logos"
                " (`logo-ann reconcile` lists them all): %s%s",
                len(bad), dim, unreadable[:SHOWN_IDS], " ..." if len(bad) > SHOWN_IDS else "",
            )  # fmt: skip
        keep = np.ones(len(rows), dtype=bool)
        keep[bad] = False
        return Loaded([i for i, k in zip(ids, keep.tolist(), strict=True) if k], matrix[keep], unreadable)

    def read_by_id(self, rows: Sequence[Sequence[Any]]) -> dict[int, np.ndarray]:
        """``read`` for rows of any dimensions, as logo id -> vector."""
        by_dim: dict[int, list[Sequence[Any]]] = {}
        for row in rows:
            by_dim.setdefault(int(row[2]), []).append(row)
        found: dict[int, np.ndarray] = {}
        for group in by_dim.values():
            loaded = self.read(group)
            found.update(zip(loaded.ids, loaded.matrix, strict=True))
        return found

    def records(self, dim: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(records, found) of ``slots``; this storage has no slot file: none found."""
        return np.zeros((len(slots), dim), dtype=np.float32), np.zeros(len(slots), dtype=bool)

    def stats(self, tx: Tx) -> list[dict[str, Any]]:
        """One entry per vector file: records, live rows, holes and the dead fraction."""
        return []

    def flush(self) -> None:
        """Make the vectors written so far durable (the database commits its rows itself)."""

    def close(self) -> None:
        self.flush()


class InlineVectors(VectorStorage):
    """The vector in its row. ``copy``: new rows go in by ``COPY`` (PostgreSQL), else by one
    prepared statement run for every row (SQLite)."""

    def __init__(self, copy: bool) -> None:
        self.copy = copy

    def _insert(self, tx: Tx, logo_ids: list[int], data: np.ndarray, about: tuple[str, str, Any]) -> None:
        if self.copy:
            sql = INSERT_INLINE.replace("INSERT INTO", "COPY", 1) + " FROM STDIN (FORMAT binary)"
            tx.copy_in(sql, binary_copy(logo_ids, data, about))
            return
        dim, row_bytes = data.shape[1], data.tobytes()
        width = 4 * dim
        rows = [(logo_id, row_bytes[k * width : (k + 1) * width], dim, *about) for k, logo_id in enumerate(logo_ids)]
        tx.many(INSERT_INLINE + " VALUES (?, ?, ?, ?, ?, ?)", rows)


PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # binary timestamptz: microseconds since then


def binary_copy(logo_ids: list[int], data: np.ndarray, about: tuple[str, str, Any]) -> bytes:
    """``INSERT_INLINE``'s rows in ``COPY``'s binary format, built by numpy with no Python a row:
    every tuple has the same size (the version, recipe and time are the batch's), so the whole
    batch is one structured array: field count, then each field's length (int32) and bytes."""
    version, recipe, now = about
    dim = data.shape[1]
    micros = (now - PG_EPOCH) // dt.timedelta(microseconds=1)
    tail = b"".join(
        [_field(dim.to_bytes(4, "big")), _field(version.encode()), _field(recipe.encode()),
         _field(int(micros).to_bytes(8, "big", signed=True))]
    )  # fmt: skip
    layout = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("vec_len", ">i4"),
                       ("vector", f"V{4 * dim}"), ("tail", f"V{len(tail)}")])  # fmt: skip
    tuples = np.empty(len(logo_ids), dtype=layout)
    tuples["fields"], tuples["id_len"], tuples["vec_len"] = 6, 8, 4 * dim
    tuples["id"] = logo_ids
    tuples["vector"] = np.ascontiguousarray(data, dtype=VECTOR_DTYPE).view(f"V{4 * dim}").ravel()
    tuples["tail"] = np.void(tail)
    return pg_copy.HEADER + tuples.tobytes() + pg_copy.TRAILER


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


class SlotVectors(VectorStorage):
    """Vectors in ``<database>.vectors-<dim>.f32`` (see the module docstring)."""

    def __init__(self, database: Path) -> None:
        self.database = Path(database)
        self._files: dict[int, SlotFile] = {}

    def file(self, dim: int) -> SlotFile:
        found = self._files.get(dim)
        if found is None:
            path = self.database.with_name(f"{self.database.name}.vectors-{dim}.f32")
            found = self._files.setdefault(dim, SlotFile(path, dim))
        return found

    def _insert(self, tx: Tx, logo_ids: list[int], data: np.ndarray, about: tuple[str, str, Any]) -> None:
        dim = data.shape[1]
        first = int(tx.one(NEXT_SLOT, dim, dim)[0] or 0)  # type: ignore[index]
        self.file(dim).write(first, data)  # before the rows: a committed row's record is already there
        version, recipe, now = about
        rows = list(zip(logo_ids, repeat(dim), repeat(version), repeat(recipe), repeat(now),
                        range(first, first + len(logo_ids)), _crc32s(data).tolist(), strict=False))  # fmt: skip
        tx.many(INSERT_SLOT + " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        tx.exec(MOVE_MARK, dim, first + len(rows))

    def records(self, dim: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.file(dim).read(slots)

    def stats(self, tx: Tx) -> list[dict[str, Any]]:
        found = []
        for dim, next_slot in tx.rows("SELECT dim, next_slot FROM vector_slots ORDER BY dim"):
            live = int(tx.one("SELECT count(*) FROM embedding WHERE dim = ? AND slot IS NOT NULL", dim)[0])  # type: ignore[index]
            file = self.file(int(dim))
            holes = int(next_slot) - live  # records of deleted embeddings, never reused
            found.append({
                "dim": int(dim), "path": str(file.path), "file_records": file.records(), "slots_used": int(next_slot),
                "live": live, "holes": holes, "dead_fraction": round(holes / next_slot, 4) if next_slot else 0.0,
            })  # fmt: skip
        return found

    def flush(self) -> None:
        for file in list(self._files.values()):
            file.flush()

    def close(self) -> None:
        for file in list(self._files.values()):
            file.close()


def _crc32s(matrix: np.ndarray) -> np.ndarray:
    """crc32 of each row's little-endian bytes."""
    little = np.ascontiguousarray(matrix, dtype=VECTOR_DTYPE)
    return np.fromiter(map(zlib.crc32, little), dtype=np.int64, count=len(little))
