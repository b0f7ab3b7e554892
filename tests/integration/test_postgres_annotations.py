"""The annotation store on a real PostgreSQL (a throwaway database per test): the shared contracts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.adapters.postgres_store import PostgresStore
from common.adapters.sql.annotations import SqlAnnotations
from common.adapters.sql.quests import SqlQuests
from stack.pg import scratch_database
from tests.annotation_contract import AnnotationContract
from tests.operations_contract import OperationsContract

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


@pytest.fixture
def quests(store: PostgresStore) -> SqlQuests:
    return SqlQuests(store.db)


class TestPostgresAnnotations(AnnotationContract, OperationsContract):
    pass
