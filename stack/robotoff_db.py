"""A Robotoff database built from the documented facts (``REFERENCE.md``), for import tests and benches.

Tables as Robotoff has them: ``image``, ``image_prediction``, ``logo_annotation`` and
``embedding.logo_embedding`` (raw little-endian float32). ``RobotoffFixture`` adds rows one by
one; ``fill_synthetic`` streams many rows in with ``COPY``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pg8000.dbapi
import pytest

from common.adapters.migrations import MIGRATIONS
from common.adapters.sql.pg_url import parse_database_url

# The import writes the image identity columns (schema v2) and the annotation columns (v3).
needs_v2_v3 = pytest.mark.skipif(
    not {2, 3} <= {m.version for m in MIGRATIONS},
    reason="the import needs schema migrations 2 (image identity) and 3 (annotations), not on this branch yet",
)

SCHEMA = (
    """CREATE TABLE image (
        id SERIAL PRIMARY KEY, barcode TEXT, uploaded_at TIMESTAMP, image_id TEXT, source_image TEXT,
        width INTEGER, height INTEGER, deleted BOOLEAN NOT NULL DEFAULT false, server_type TEXT, fingerprint BIGINT)""",
    """CREATE TABLE image_prediction (
        id SERIAL PRIMARY KEY, type TEXT NOT NULL, model_name TEXT NOT NULL, model_version TEXT NOT NULL,
        data JSONB NOT NULL, timestamp TIMESTAMP, image_id INTEGER NOT NULL REFERENCES image (id),
        max_confidence DOUBLE PRECISION)""",
    "CREATE INDEX image_prediction_image_id ON image_prediction (image_id)",
    """CREATE TABLE logo_annotation (
        id SERIAL PRIMARY KEY, image_prediction_id INTEGER NOT NULL REFERENCES image_prediction (id),
        index INTEGER NOT NULL, bounding_box JSONB NOT NULL, score DOUBLE PRECISION NOT NULL,
        annotation_type TEXT, annotation_value TEXT, annotation_value_tag TEXT, taxonomy_value TEXT,
        username TEXT, completed_at TIMESTAMP, nearest_neighbors JSONB, barcode TEXT, source_image TEXT,
        text TEXT, server_type TEXT)""",
    "CREATE SCHEMA embedding",
    """CREATE TABLE embedding.logo_embedding (
        logo_id INTEGER PRIMARY KEY REFERENCES logo_annotation (id), embedding BYTEA NOT NULL)""",
)


def connect(url: str) -> Any:
    conn = pg8000.dbapi.connect(**parse_database_url(url))
    conn.autocommit = True
    return conn


def create_schema(url: str) -> None:
    conn = connect(url)
    try:
        for statement in SCHEMA:
            conn.cursor().execute(statement)
    finally:
        conn.close()


def source_image(barcode: str, image_id: str) -> str:
    """Open Food Facts' path: a barcode of 9+ digits split 3/3/3/rest."""
    if barcode.isdigit() and len(barcode) >= 9:
        folders = f"{barcode[:3]}/{barcode[3:6]}/{barcode[6:9]}/{barcode[9:]}".rstrip("/")
    else:
        folders = barcode
    return f"/{folders}/{image_id}.jpg"


def unit_vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(512).astype("<f4")
    vector /= np.linalg.norm(vector)
    return vector


class RobotoffFixture:
    """Rows added one at a time; every id is Robotoff's own (serial)."""

    def __init__(self, url: str) -> None:
        self.conn = connect(url)

    def close(self) -> None:
        self.conn.close()

    def _one(self, sql: str, *params: Any) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if cursor.description else None

    def image(self, barcode: str, image_id: str = "1", deleted: bool = False, server_type: str = "off",
              width: int = 1000, height: int = 800) -> int:  # fmt: skip
        return int(self._one(
            "INSERT INTO image (barcode, uploaded_at, image_id, source_image, width, height, deleted, server_type)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            barcode, dt.datetime(2021, 3, 4, 5, 6, 7), image_id, source_image(barcode, image_id), width, height,
            deleted, server_type,
        ))  # fmt: skip

    def prediction(
        self, image_id: int, objects: list[dict[str, Any]], version: str = "tf-universal-logo-detector-1.0"
    ) -> int:
        return int(self._one(
            "INSERT INTO image_prediction (type, model_name, model_version, data, timestamp, image_id, max_confidence)"
            " VALUES ('object_detection', 'universal_logo_detector', %s, CAST(%s AS jsonb), %s, %s, %s) RETURNING id",
            version, json.dumps({"objects": objects}), dt.datetime(2021, 3, 4), image_id,
            max((o["score"] for o in objects), default=None),
        ))  # fmt: skip

    def logo(self, prediction_id: int, index: int, box: list[float], score: float, **fields: Any) -> int:
        columns = ["image_prediction_id", "index", "bounding_box", "score", *fields]
        marks = ["%s", "%s", "CAST(%s AS jsonb)", "%s"] + [
            "CAST(%s AS jsonb)" if name == "nearest_neighbors" else "%s" for name in fields
        ]
        values = [prediction_id, index, json.dumps(box), score] + [
            json.dumps(v) if name == "nearest_neighbors" and v is not None else v for name, v in fields.items()
        ]
        sql = f"INSERT INTO logo_annotation ({', '.join(columns)}) VALUES ({', '.join(marks)}) RETURNING id"
        return int(self._one(sql, *values))

    def embedding(self, logo_id: int, blob: bytes) -> None:
        self._one("INSERT INTO embedding.logo_embedding (logo_id, embedding) VALUES (%s, %s)", logo_id, blob)


def fill_synthetic(
    url: str,
    logos: int,
    per_image: int = 3,
    seed: int = 0,
    chunk: int = 20_000,
    embeddings: Iterable[np.ndarray] | None = None,
) -> None:
    """``logos`` logos over ``logos / per_image`` images, each with a random unit embedding (COPY),
    or with the rows of ``embeddings`` (float32 matrices, in logo id order) when given."""
    conn = connect(url)
    try:
        images = -(-logos // per_image)
        cursor = conn.cursor()
        cursor.execute(
            "INSERT INTO image (id, barcode, uploaded_at, image_id, source_image, width, height, server_type)"
            " SELECT g, lpad(g::text, 13, '0'), now(), '1', '/' || substr(lpad(g::text, 13, '0'), 1, 3) || '/'"
            " || substr(lpad(g::text, 13, '0'), 4, 3) || '/' || substr(lpad(g::text, 13, '0'), 7, 3) || '/'"
            " || substr(lpad(g::text, 13, '0'), 10) || '/1.jpg', 1000, 800, 'off' FROM generate_series(1, %s) g",
            (images,),
        )
        cursor.execute(
            "INSERT INTO image_prediction (id, type, model_name, model_version, data, timestamp, image_id)"
            " SELECT g, 'object_detection', 'universal_logo_detector', 'tf-universal-logo-detector-1.0',"
            " '{\"objects\": []}', now(), g FROM generate_series(1, %s) g",
            (images,),
        )
        cursor.execute(
            "INSERT INTO logo_annotation (id, image_prediction_id, index, bounding_box, score, annotation_type,"
            " annotation_value, nearest_neighbors)"
            " SELECT g, (g - 1) / %s + 1, (g - 1) %% %s, '[0.1, 0.2, 0.5, 0.6]', 0.5 + (g %% 50) / 100.0,"
            " CASE WHEN g %% 10 = 0 THEN 'brand' END, CASE WHEN g %% 10 = 0 THEN 'brand-' || (g %% 97) END,"
            " CASE WHEN g %% 2 = 0 THEN jsonb_build_object('logo_ids', jsonb_build_array(g - 1),"
            " 'distances', jsonb_build_array(0.1), 'updated_at', '2022-01-01T00:00:00') END"
            " FROM generate_series(1, %s) g",
            (per_image, per_image, logos),
        )
        if embeddings is None:
            for start in range(0, logos, chunk):
                cursor.execute("COPY embedding.logo_embedding (logo_id, embedding) FROM STDIN",
                               stream=_embedding_rows(start + 1, min(logos, start + chunk), seed))  # fmt: skip
        else:
            first = 1
            for matrix in embeddings:
                cursor.execute("COPY embedding.logo_embedding (logo_id, embedding) FROM STDIN (FORMAT binary)",
                               stream=_binary_rows(first, matrix))  # fmt: skip
                first += len(matrix)
        for table in ("image", "image_prediction", "logo_annotation"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.execute("ANALYZE")  # a live Robotoff database has its statistics (autovacuum): plans as there
    finally:
        conn.close()


def _embedding_rows(first: int, last: int, seed: int) -> io.BytesIO:
    rng = np.random.default_rng(seed + first)
    matrix = rng.standard_normal((last - first + 1, 512)).astype("<f4")
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    lines = (
        f"{logo_id}\t\\\\x{row.tobytes().hex()}\n" for logo_id, row in zip(range(first, last + 1), matrix, strict=True)
    )
    return io.BytesIO("".join(lines).encode())


def _binary_rows(first: int, matrix: np.ndarray) -> io.BytesIO:
    """``COPY ... (FORMAT binary)`` of ``(logo_id, embedding)`` rows, built as one numpy record array:
    at millions of rows, a text line a row built in Python took minutes."""
    data = np.ascontiguousarray(matrix, dtype="<f4")
    width = data.shape[1] * 4
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("blob_len", ">i4"), ("blob", f"V{width}")])
    rows = np.empty(len(data), row)
    rows["fields"], rows["id_len"], rows["id"], rows["blob_len"] = 2, 4, np.arange(first, first + len(data)), width
    rows["blob"] = data.view(f"V{width}").ravel()
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return io.BytesIO(header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True))


def iter_ids(url: str, sql: str) -> Iterator[int]:
    conn = connect(url)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        for row in cursor.fetchall():
            yield int(row[0])
    finally:
        conn.close()
