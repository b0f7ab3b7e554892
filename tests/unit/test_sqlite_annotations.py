"""The annotation store on SQLite: the shared contracts (annotations; operations, negatives, quests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.adapters.sql.annotations import SqlAnnotations
from common.adapters.sql.quests import SqlQuests
from common.adapters.sqlite_store import SqliteStore
from tests.annotation_contract import AnnotationContract
from tests.operations_contract import OperationsContract


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "logo-ann.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def notes(store: SqliteStore) -> SqlAnnotations:
    return SqlAnnotations(store.db)


@pytest.fixture
def quests(store: SqliteStore) -> SqlQuests:
    return SqlQuests(store.db)


class TestSqliteAnnotations(AnnotationContract, OperationsContract):
    pass
