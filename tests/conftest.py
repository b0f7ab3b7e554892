"""Shared fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.elasticsearch_node import ElasticsearchNode
from tests.services import free_port


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh LOGO_ANN_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    yield path


@pytest.fixture(scope="session")
def es_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ElasticsearchNode]:
    """One real Elasticsearch node for the whole run (``tests/es_node``); a missing Java or Maven
    fails the tests that need it. Tests may stop and start it: its data folder is kept."""
    node = ElasticsearchNode(tmp_path_factory.mktemp("elasticsearch")).start()
    yield node
    node.stop()
