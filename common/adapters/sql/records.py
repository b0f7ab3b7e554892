"""Rows to records: the mapping shared by every SQL dialect (vectors: ``vectors.py``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from common.adapters.sql.database import Database
from common.domain import Box, ObjectRef
from common.records.logos import ImageRecord, LogoRecord

IMAGE_COLUMNS = (
    "id, bucket, name, generation, size, content_type, width, height, status, error, "
    "detector_version, embedder_version, attempts, created_at, updated_at, "
    "barcode, off_image_id, source_image, uploaded_at, deleted, server_type"
)
LOGO_COLUMNS = (
    "l.id, l.image_id, l.y_min, l.x_min, l.y_max, l.x_max, l.score, l.label, l.detector_version, "
    "l.annotation_type, l.annotation_value, l.nearest_neighbors, "
    "EXISTS (SELECT 1 FROM embedding e WHERE e.logo_id = l.id), l.text, l.box_index"
)


def image_from_row(row: Sequence[Any], db: Database) -> ImageRecord:
    (
        id_,
        bucket,
        name,
        generation,
        size,
        content_type,
        width,
        height,
        status,
        error,
        detector_version,
        embedder_version,
        attempts,
        created_at,
        updated_at,
        barcode,
        off_image_id,
        source_image,
        uploaded_at,
        deleted,
        server_type,
    ) = row
    return ImageRecord(
        id=int(id_),
        ref=ObjectRef(bucket, name, generation),
        size=size,
        content_type=content_type,
        width=width,
        height=height,
        status=status,
        error=error,
        detector_version=detector_version,
        embedder_version=embedder_version,
        attempts=int(attempts),
        created_at=db.from_ts(created_at),
        updated_at=db.from_ts(updated_at),
        barcode=barcode,
        off_image_id=off_image_id,
        source_image=source_image,
        uploaded_at=None if uploaded_at is None else db.from_ts(uploaded_at),
        deleted=bool(deleted),
        server_type=server_type,
    )


def logo_from_row(row: Sequence[Any]) -> LogoRecord:
    (
        id_,
        image_id,
        y_min,
        x_min,
        y_max,
        x_max,
        score,
        label,
        detector_version,
        annotation_type,
        annotation_value,
        neighbours,
        has_embedding,
        text,
        box_index,
    ) = row
    return LogoRecord(
        id=int(id_),
        image_id=int(image_id),
        box=Box(float(y_min), float(x_min), float(y_max), float(x_max)),
        score=float(score),
        label=label,
        detector_version=detector_version,
        annotation_type=annotation_type,
        annotation_value=annotation_value,
        nearest_neighbors=load_json(neighbours),
        has_embedding=bool(has_embedding),
        text=text,
        box_index=int(box_index),
    )


def load_json(value: Any) -> Any:
    """JSON columns come back parsed (PostgreSQL JSONB) or as text (SQLite)."""
    if value is None or not isinstance(value, (str, bytes)):
        return value
    return json.loads(value)
