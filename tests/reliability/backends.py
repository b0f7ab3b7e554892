"""Fixtures for the real PostgreSQL (a fresh random database per test) and the real Elasticsearch
node (the session's ``es_node``, a fresh alias per test: ``tests/es_support.py``).

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
from stack.pg import scratch_database
from tests.reliability.embedded import embedded_container


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_database("logo_ann_rel") as url:
        yield url


def cloud_container(home: Path, database_url: str, es_url: str, es_alias: str, **overrides: Any) -> Container:
    """PostgreSQL + Elasticsearch (its index behind ``es_alias``) + a shared local bucket folder + ONNX stand-ins."""
    return embedded_container(
        home,
        store="postgres",
        database_url=database_url,
        index="elasticsearch",
        es_url=es_url,
        es_index=es_alias,
        **overrides,
    )
