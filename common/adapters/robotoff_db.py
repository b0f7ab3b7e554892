"""Robotoff's PostgreSQL database as an import source (pg8000, read-only).

Rows are read in logo id order, one keyset page (``id > last ... LIMIT n``) at a time inside
one read-only REPEATABLE READ transaction, so memory stays bounded by one batch whatever the
table's size, every page sees the same snapshot, and a resumed import starts right after the
checkpoint's id. Each row joins ``logo_annotation`` to its ``image_prediction``, ``image`` and,
when present, ``embedding.logo_embedding``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pg8000.dbapi

from common.adapters.sql import pg_copy, pg_url
from common.adapters.sql.database import describe
from common.adapters.sql.pg_url import describe as describe_target
from common.adapters.sql.pg_url import parse_database_url
from common.errors import DependencyError, InvalidEventError
from common.imports.batch import SourceBatch
from common.imports.rows import EMBEDDING_BYTES, EMBEDDING_DIM, embedding_size_error

logger = logging.getLogger(__name__)

# One batch is two statements in one REPEATABLE READ snapshot, so pg8000's per-row Python work
# (its message loop, a converter call a column) is paid once a batch instead of once a row:
# - the logos: one row holding the batch's count, last id and every logo as a JSON array
#   (``json_agg``, parsed by orjson); ``octet_length`` reads an embedding's size from its TOAST
#   pointer, without fetching the vector. The join repeats ``> after`` for the embeddings: without
#   it PostgreSQL's merge join walks their index from the first id on every page (at 1M rows, a
#   page 5x slower by the middle of the table, and slower with every page);
# - their 2,048-byte embeddings: one tuple of ``COPY ... (FORMAT binary)`` holding the ids as one
#   int8 array and the vectors as one ``bytea`` (``string_agg``), parsed by two numpy views: raw
#   float32 never hex-encoded, and one protocol message a batch instead of one a row. Embeddings
#   of any other size are left out and recorded as failed from their length.
LOGOS = """SELECT count(*), max(b.id), json_agg(b.doc ORDER BY b.id)::text FROM (
SELECT la.id, json_build_array(la.id, octet_length(e.embedding), la.index, la.bounding_box, la.score,
    la.annotation_type, la.annotation_value, la.annotation_value_tag, la.taxonomy_value, la.username,
    la.completed_at, la.nearest_neighbors::text, la.text, i.id, i.barcode, i.image_id, i.source_image,
    i.uploaded_at, i.width, i.height, i.deleted, i.server_type, ip.model_name, ip.model_version,
    ip.data -> 'objects' -> la.index ->> 'label') AS doc
FROM logo_annotation la
JOIN image_prediction ip ON ip.id = la.image_prediction_id
JOIN image i ON i.id = ip.image_id
LEFT JOIN embedding.logo_embedding e ON e.logo_id = la.id AND e.logo_id > {after}
WHERE la.id > {after}
ORDER BY la.id
LIMIT {limit}) AS b"""
EMBEDDINGS = """COPY (SELECT array_agg(logo_id::int8 ORDER BY logo_id),
    string_agg(embedding, ''::bytea ORDER BY logo_id)
FROM embedding.logo_embedding
WHERE logo_id > {after} AND logo_id <= {last} AND octet_length(embedding) = {size}) TO STDOUT (FORMAT binary)"""
INT8_OID = 20
# the ids' array: dimensions (1), has-nulls flag, element type, length, lower bound; then elements
ARRAY_HEAD = np.dtype([("ndim", ">i4"), ("flags", ">i4"), ("oid", ">i4"), ("count", ">i4"), ("lower", ">i4")])
ELEMENT = np.dtype([("len", ">i4"), ("id", ">i8")])


class RobotoffDatabase:
    """``ImportSource`` reading a Robotoff database at ``database_url``."""

    kind = "robotoff-db"

    def __init__(self, database_url: str) -> None:
        self._args = parse_database_url(database_url)
        self.name = "robotoff:" + describe_target(self._args)  # host, port and database; never the password

    def count_after(self, after: int) -> int:
        conn = self._connect()
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT count(*) FROM logo_annotation WHERE id > %s", (int(after),))
            return int(cursor.fetchone()[0])
        except pg8000.dbapi.Error as exc:
            raise self._error(exc) from exc
        finally:
            conn.close()

    def rows(self, after: int, batch_size: int) -> Iterator[SourceBatch]:
        """Batches of rows with a logo id above ``after``, in id order (keyset pages in one snapshot)."""
        conn = self._connect()
        try:
            cursor = conn.cursor()
            cursor.execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            while True:
                cursor.execute(LOGOS.format(after=int(after), limit=int(batch_size)))
                count, last, documents = cursor.fetchone()
                if not count:
                    return
                stream = io.BytesIO()
                sql = EMBEDDINGS.format(after=int(after), last=int(last), size=EMBEDDING_BYTES)
                cursor.execute(sql, stream=stream)
                yield _batch(orjson.loads(documents), *_embeddings(stream.getbuffer()))
                after = int(last)
        except pg8000.dbapi.Error as exc:
            raise self._error(exc) from exc
        finally:
            _close(conn)

    def _connect(self) -> Any:
        try:
            return pg_url.connect(self._args)
        except (pg8000.dbapi.Error, OSError) as exc:
            raise DependencyError("robotoff-db", f"cannot connect to {self.name}: {describe(exc)}") from exc

    def _error(self, exc: BaseException) -> Exception:
        code = str(exc.args[0].get("C", "")) if exc.args and isinstance(exc.args[0], dict) else ""
        if code.startswith("42"):  # undefined table or column: not a Robotoff database
            return InvalidEventError(f"{self.name} does not look like a Robotoff database: {describe(exc)}")
        return DependencyError("robotoff-db", f"{self.name}: {describe(exc)}")


def _embeddings(data: memoryview) -> tuple[np.ndarray, np.ndarray]:
    """Logo ids (int64, ascending) and their float32 [m, 512] vectors (a writable copy), from the
    one-tuple ``COPY (FORMAT binary)`` answer of ``EMBEDDINGS``."""
    if bytes(data[: len(pg_copy.SIGNATURE)]) != pg_copy.SIGNATURE:
        raise DependencyError("robotoff-db", "the embeddings' COPY answer is not in PostgreSQL's binary format")
    extension = int.from_bytes(data[pg_copy.HEADER_MIN - 4 : pg_copy.HEADER_MIN], "big")
    body = data[pg_copy.HEADER_MIN + extension : len(data) - len(pg_copy.TRAILER)]
    if bytes(data[len(data) - len(pg_copy.TRAILER) :]) != pg_copy.TRAILER or _int(body, 0, 2) != 2:
        raise DependencyError("robotoff-db", "the embeddings' COPY answer is not one tuple of two fields")
    none = np.zeros(0, dtype=np.int64), np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    ids_len = _int(body, 2, 4)
    if ids_len == -1:  # no embedding in this range: both aggregates are null
        return none
    head = np.frombuffer(body, dtype=ARRAY_HEAD, count=1, offset=6)[0]
    count = int(head["count"])
    if (
        int(head["ndim"]) != 1
        or int(head["oid"]) != INT8_OID
        or ids_len != ARRAY_HEAD.itemsize + count * ELEMENT.itemsize
    ):
        raise DependencyError("robotoff-db", "the embeddings' COPY answer holds an unexpected id array")
    elements = np.frombuffer(body, dtype=ELEMENT, count=count, offset=6 + ARRAY_HEAD.itemsize)
    at = 6 + ids_len
    size = _int(body, at, 4)
    if not (elements["len"] == 8).all() or size != count * EMBEDDING_BYTES or len(body) != at + 4 + size:
        raise DependencyError("robotoff-db", f"the embeddings' COPY answer has {size} bytes of vectors for"
                              f" {count} ids, not {EMBEDDING_BYTES} each")  # fmt: skip
    vectors = np.frombuffer(body, dtype="<f4", count=size // 4, offset=at + 4).astype(np.float32)
    return elements["id"].astype(np.int64), vectors.reshape(count, EMBEDDING_DIM)


def _int(body: memoryview, at: int, size: int) -> int:
    return int.from_bytes(body[at : at + size], "big", signed=True)


def _batch(documents: list[list[Any]], vector_ids: np.ndarray, vectors: np.ndarray) -> SourceBatch:
    """The batch's ``json_build_array`` documents as ``SourceBatch`` columns, column by column."""
    (
        logo_id, size, index, box, score, a_type, a_value, a_tag, taxonomy, username, completed, neighbours, text,
        image_id, barcode, off_image_id, source_image, uploaded, width, height, deleted, server_type,
        model_name, model_version, label,
    ) = (list(column) for column in zip(*documents, strict=True))  # fmt: skip
    n = len(logo_id)
    ids = np.asarray(logo_id, dtype=np.int64)
    at = np.searchsorted(vector_ids, ids)
    found = at < len(vector_ids)
    found[found] = vector_ids[at[found]] == ids[found]
    vector_of = np.where(found, at, -1)
    refused = [
        None if size_ is None or ok else embedding_size_error(int(size_))
        for size_, ok in zip(size, found.tolist(), strict=True)
    ]
    versions: dict[tuple[Any, Any], str] = {}
    times: dict[str | None, dt.datetime | None] = {None: None}
    columns: dict[str, list[Any]] = {
        "logo_id": logo_id,
        "position": logo_id,
        "source_image": [path or "" for path in source_image],
        "index": index,
        "bounding_box": box,
        "score": score,
        "image_id": image_id,
        "barcode": barcode,
        "off_image_id": off_image_id,
        "uploaded_at": [times[v] if v in times else times.setdefault(v, _utc(v)) for v in uploaded],
        "width": width,
        "height": height,
        "deleted": deleted,
        "server_type": [kind or "off" for kind in server_type],
        "label": [name or "object" for name in label],
        "detector_version": [
            versions[key] if key in versions else versions.setdefault(key, _detector(*key))
            for key in zip(model_name, model_version, strict=True)
        ],
        "annotation_type": a_type,
        "annotation_value": a_value,
        "annotation_value_tag": a_tag,
        "taxonomy_value": taxonomy,
        "username": username,
        "completed_at": [None if v is None else _utc(v) for v in completed],
        "nearest_neighbors": neighbours,  # JSON text
        "text": text,
        "embedding_error": refused,
        "error": [None] * n,
    }
    return SourceBatch(columns, vectors, vector_of, int(logo_id[-1]))


def _detector(model_name: str | None, model_version: str | None) -> str:
    return f"{model_name or 'universal_logo_detector'}:{model_version or 'unknown'}"


def _utc(value: str | None) -> dt.datetime | None:
    """Robotoff's columns are ``timestamp`` without time zone, written in UTC."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _close(conn: Any) -> None:
    try:
        conn.rollback()
        conn.close()
    except (pg8000.dbapi.Error, OSError) as exc:  # the connection may already be gone
        logger.debug("closing the Robotoff connection failed: %s", exc)
