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
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pg8000.dbapi

from common.adapters.sql import pg_copy
from common.adapters.sql.database import describe
from common.adapters.sql.pg_url import describe as describe_target
from common.adapters.sql.pg_url import parse_database_url
from common.adoption.rows import EMBEDDING_BYTES, SourceLogo, embedding_size_error
from common.errors import DependencyError, InvalidEventError

logger = logging.getLogger(__name__)

# One batch is two statements in one REPEATABLE READ snapshot, so pg8000's per-row Python work
# (its message loop, a converter call a column) is paid once a batch instead of once a row:
# - the logos: one row holding the batch's count, last id and every logo as a JSON array
#   (``json_agg``, parsed in C); ``octet_length`` reads an embedding's size from its TOAST
#   pointer, without fetching the vector;
# - their 2,048-byte embeddings: ``COPY ... (FORMAT binary)`` of ``(logo_id::int8, embedding)``,
#   fixed-size tuples parsed by one numpy view, raw float32 never hex-encoded. Embeddings of any
#   other size are left out and recorded as failed from their length.
LOGOS = """SELECT count(*), max(b.id), json_agg(b.doc ORDER BY b.id)::text FROM (
SELECT la.id, json_build_array(la.id, octet_length(e.embedding), la.index, la.bounding_box, la.score,
    la.annotation_type, la.annotation_value, la.annotation_value_tag, la.taxonomy_value, la.username,
    la.completed_at, la.nearest_neighbors::text, la.text, i.id, i.barcode, i.image_id, i.source_image,
    i.uploaded_at, i.width, i.height, i.deleted, i.server_type, ip.model_name, ip.model_version,
    ip.data -> 'objects' -> la.index ->> 'label') AS doc
FROM logo_annotation la
JOIN image_prediction ip ON ip.id = la.image_prediction_id
JOIN image i ON i.id = ip.image_id
LEFT JOIN embedding.logo_embedding e ON e.logo_id = la.id
WHERE la.id > {after}
ORDER BY la.id
LIMIT {limit}) AS b"""
EMBEDDINGS = """COPY (SELECT logo_id::int8, embedding FROM embedding.logo_embedding
WHERE logo_id > {after} AND logo_id <= {last} AND octet_length(embedding) = {size}
ORDER BY logo_id) TO STDOUT (FORMAT binary)"""
# a tuple: field count (int16), then each field's length (int32) and bytes, big-endian
TUPLE = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("vec_len", ">i4"),
                  ("vector", f"V{EMBEDDING_BYTES}")])  # fmt: skip


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

    def rows(self, after: int, batch_size: int) -> Iterator[list[SourceLogo]]:
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
                vectors = _embeddings(stream.getbuffer())
                yield [_logo(document, vectors) for document in json.loads(documents)]
                after = int(last)
        except pg8000.dbapi.Error as exc:
            raise self._error(exc) from exc
        finally:
            _close(conn)

    def _connect(self) -> Any:
        try:
            return pg8000.dbapi.connect(**self._args)
        except (pg8000.dbapi.Error, OSError) as exc:
            raise DependencyError("robotoff-db", f"cannot connect to {self.name}: {describe(exc)}") from exc

    def _error(self, exc: BaseException) -> Exception:
        code = str(exc.args[0].get("C", "")) if exc.args and isinstance(exc.args[0], dict) else ""
        if code.startswith("42"):  # undefined table or column: not a Robotoff database
            return InvalidEventError(f"{self.name} does not look like a Robotoff database: {describe(exc)}")
        return DependencyError("robotoff-db", f"{self.name}: {describe(exc)}")


def _embeddings(data: memoryview) -> dict[int, memoryview | bytes]:
    """logo id -> its raw 2,048 bytes, from one ``COPY (FORMAT binary)`` answer."""
    if bytes(data[: len(pg_copy.SIGNATURE)]) != pg_copy.SIGNATURE:
        raise DependencyError("robotoff-db", "the embeddings' COPY answer is not in PostgreSQL's binary format")
    extension = int.from_bytes(data[pg_copy.HEADER_MIN - 4 : pg_copy.HEADER_MIN], "big")
    body = data[pg_copy.HEADER_MIN + extension : len(data) - len(pg_copy.TRAILER)]
    if len(body) % TUPLE.itemsize or bytes(data[len(data) - len(pg_copy.TRAILER) :]) != pg_copy.TRAILER:
        raise DependencyError("robotoff-db", f"the embeddings' COPY answer has {len(body)} bytes of tuples,"
                              f" not a whole number of {TUPLE.itemsize}-byte rows")  # fmt: skip
    tuples = np.frombuffer(body, dtype=TUPLE)
    if len(tuples) and not (
        (tuples["fields"] == 2).all() and (tuples["id_len"] == 8).all() and (tuples["vec_len"] == EMBEDDING_BYTES).all()
    ):
        raise DependencyError("robotoff-db", "the embeddings' COPY answer has tuples of an unexpected shape")
    start = 2 + 4 + 8 + 4  # the vector's offset in a tuple
    ids = tuples["id"].tolist()
    size = TUPLE.itemsize
    return {logo_id: body[i * size + start : (i + 1) * size] for i, logo_id in enumerate(ids)}


def _logo(document: list[Any], vectors: dict[int, memoryview | bytes]) -> SourceLogo:
    (
        logo_id, size, index, box, score, a_type, a_value, a_tag, taxonomy, username, completed, neighbours, text,
        image_id, barcode, off_image_id, source_image, uploaded, width, height, deleted, server_type,
        model_name, model_version, label,
    ) = document  # fmt: skip
    logo_id = int(logo_id)
    embedding = vectors.get(logo_id)
    refused = None if size is None or embedding is not None else embedding_size_error(int(size))
    return SourceLogo(
        logo_id=logo_id,
        position=logo_id,
        source_image=source_image or "",
        index=int(index),
        bounding_box=box,
        score=score,
        image_id=int(image_id),
        barcode=barcode,
        off_image_id=off_image_id,
        uploaded_at=_utc(uploaded),
        width=width,
        height=height,
        deleted=bool(deleted),
        server_type=server_type or "off",
        label=label or "object",
        detector_version=f"{model_name or 'universal_logo_detector'}:{model_version or 'unknown'}",
        annotation_type=a_type,
        annotation_value=a_value,
        annotation_value_tag=a_tag,
        taxonomy_value=taxonomy,
        username=username,
        completed_at=_utc(completed),
        nearest_neighbors=neighbours,  # JSON text
        text=text,
        embedding=embedding,
        embedding_error=refused,
    )


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
