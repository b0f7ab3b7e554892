"""Robotoff's PostgreSQL database as an import source (pg8000, read-only).

Rows are read in logo id order through a server-side cursor (``DECLARE ... NO SCROLL CURSOR``
inside one read-only transaction, then ``FETCH FORWARD n``), so memory stays bounded by one
batch whatever the table's size, and a resumed import starts right after the checkpoint's id.
Each row joins ``logo_annotation`` to its ``image_prediction``, ``image`` and, when present,
``embedding.logo_embedding``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import pg8000.dbapi

from common.adapters.sql.database import describe
from common.adapters.sql.pg_url import describe as describe_target
from common.adapters.sql.pg_url import parse_database_url
from common.adoption.rows import SourceLogo
from common.errors import DependencyError, InvalidEventError

logger = logging.getLogger(__name__)

CURSOR = "logo_ann_import"
# Three columns a row: pg8000 decodes every column in Python, so the many small fields travel as
# one JSON array (parsed in C); the neighbours stay JSON text, stored as they are.
QUERY = """SELECT la.id, e.embedding, json_build_array(la.index, la.bounding_box, la.score, la.annotation_type,
    la.annotation_value, la.annotation_value_tag, la.taxonomy_value, la.username, la.completed_at,
    la.nearest_neighbors::text, la.text, i.id, i.barcode, i.image_id, i.source_image, i.uploaded_at, i.width,
    i.height, i.deleted, i.server_type, ip.model_name, ip.model_version,
    ip.data -> 'objects' -> la.index ->> 'label')::text
FROM logo_annotation la
JOIN image_prediction ip ON ip.id = la.image_prediction_id
JOIN image i ON i.id = ip.image_id
LEFT JOIN embedding.logo_embedding e ON e.logo_id = la.id
WHERE la.id > {after}
ORDER BY la.id"""


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
        """Batches of rows with a logo id above ``after``, in id order."""
        conn = self._connect()
        try:
            cursor = conn.cursor()
            cursor.execute("START TRANSACTION READ ONLY")
            cursor.execute(f"DECLARE {CURSOR} NO SCROLL CURSOR FOR " + QUERY.format(after=int(after)))
            while True:
                cursor.execute(f"FETCH FORWARD {int(batch_size)} FROM {CURSOR}")
                rows = cursor.fetchall()
                if not rows:
                    return
                yield [_logo(row) for row in rows]
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


def _logo(row: Any) -> SourceLogo:
    logo_id, embedding, document = row
    (
        index, box, score, a_type, a_value, a_tag, taxonomy, username, completed, neighbours, text,
        image_id, barcode, off_image_id, source_image, uploaded, width, height, deleted, server_type,
        model_name, model_version, label,
    ) = json.loads(document)  # fmt: skip
    return SourceLogo(
        logo_id=int(logo_id),
        position=int(logo_id),
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
        embedding=None if embedding is None else bytes(embedding),
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
