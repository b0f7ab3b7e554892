"""The Open Food Facts image identity in the SQLite and PostgreSQL stores; migrating a v1 file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.adapters.migrations import MIGRATIONS, apply_migrations
from common.adapters.sqlite_store import SqliteDatabase, SqliteStore
from stack.pg import scratch_database
from tests import off_image_store_cases as cases

CASES = [
    cases.identity_is_filled_when_the_row_is_created,
    cases.lookup_by_source_image_skips_deleted_and_failed,
    cases.images_by_id_in_one_call,
]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        opened: Any = SqliteStore(tmp_path / "meta.sqlite3", off_image_prefix="data/")
        yield opened
        opened.close()
        return
    from common.adapters.postgres_store import PostgresStore

    with scratch_database("logo_ann_offimg") as url:
        opened = PostgresStore(url, pool_size=1, off_image_prefix="data/")
        yield opened
        opened.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_store_case(store: Any, case: Callable[[Any], None]) -> None:
    case(store)


def test_rows_from_version_1_get_the_plain_identity(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = SqliteDatabase(path)
    db.run(lambda tx: apply_migrations(tx, db, MIGRATIONS[:1]), write=True)
    with sqlite3.connect(path) as conn:
        now = "2026-01-01T00:00:00.000000Z"
        conn.execute(
            "INSERT INTO image (bucket, name, generation, status, created_at, updated_at)"
            " VALUES ('b', 'old/photo.jpg', '1', 'deleted', ?, ?)",
            (now, now),
        )
    db.close()
    store = SqliteStore(path)
    image = store.get_image(1)
    store.close()
    assert image is not None
    assert (image.source_image, image.barcode, image.deleted, image.uploaded_at) == ("/old/photo.jpg", None, True, now)
