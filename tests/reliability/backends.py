"""Fixtures for the real PostgreSQL (a fresh random database per test) and the Elasticsearch double.

Import the fixtures into a test module (``from tests.reliability.backends import ...``). The
PostgreSQL tests are skipped, with the reason, when no server answers at
``LOGO_ANN_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.bootstrap import Container
from tests.doubles.elasticsearch import ElasticsearchDouble, start_double
from tests.pg import scratch_database
from tests.reliability.embedded import embedded_container


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_database("logo_ann_rel") as url:
        yield url


@pytest.fixture
def es_double() -> Iterator[ElasticsearchDouble]:
    server, _ = start_double()
    yield server
    server.stop()


def cloud_container(home: Path, database_url: str, es_url: str, **overrides: Any) -> Container:
    """PostgreSQL + Elasticsearch (double) + a shared local bucket folder + ONNX stand-ins."""
    return embedded_container(
        home,
        store="postgres",
        database_url=database_url,
        index="elasticsearch",
        es_url=es_url,
        es_index="logo_rel",
        **overrides,
    )
