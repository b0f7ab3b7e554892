"""Fixtures for the real PostgreSQL (a fresh random database per test) and the Elasticsearch double.

Import the fixtures into a test module (``from tests.reliability.backends import ...``). The
PostgreSQL tests are skipped, with the reason, when no server answers at
``LOGO_ANN_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pg8000.dbapi
import pytest

from common.adapters.sql.pg_url import parse_database_url
from common.bootstrap import Container
from tests.doubles.elasticsearch import ElasticsearchDouble, start_double
from tests.reliability.embedded import embedded_container

ADMIN_URL = os.environ.get("LOGO_ANN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> Any:
    conn = pg8000.dbapi.connect(**parse_database_url(ADMIN_URL))
    conn.autocommit = True
    return conn


@pytest.fixture
def database_url() -> Iterator[str]:
    try:
        admin = _admin()
    except (pg8000.dbapi.Error, OSError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL} (set LOGO_ANN_TEST_PG_URL): {exc}")
    name = f"logo_ann_rel_{uuid.uuid4().hex[:12]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.split("?")[0].rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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
