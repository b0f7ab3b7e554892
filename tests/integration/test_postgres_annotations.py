"""The annotation store on a real PostgreSQL (a throwaway database per test): the shared contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.adapters.postgres_store import PostgresStore
from common.adapters.sql.annotations import SqlAnnotations
from tests.annotation_contract import AnnotationContract
from tests.pg import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with scratch_database("logo_ann_notes") as url:
        opened = PostgresStore(url, pool_size=2)
        yield opened
        opened.close()


@pytest.fixture
def notes(store: PostgresStore) -> SqlAnnotations:
    return SqlAnnotations(store.db)


class TestPostgresAnnotations(AnnotationContract):
    pass
