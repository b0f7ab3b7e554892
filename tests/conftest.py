"""Shared fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from stack.elasticsearch_node import ElasticsearchNode
from stack.services import free_port
from tests.doubles.silent_host import SilentHost


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


@pytest.fixture
def es_client(es_node: ElasticsearchNode) -> Iterator[Elasticsearch]:
    """A plain client on the node, for what the adapter does not do (an operator's steps, checks)."""
    client = Elasticsearch(es_node.url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture
def es_alias(es_node: ElasticsearchNode, es_client: Elasticsearch) -> Iterator[str]:
    """A fresh alias on the node for one test; every index named after it is deleted afterwards."""
    alias = f"logo-test-{uuid.uuid4().hex[:10]}"
    yield alias
    if es_node.running():
        es_client.options(ignore_status=404).indices.delete(index=f"{alias}-*")


@pytest.fixture
def silent() -> Iterator[SilentHost]:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers: a hung dependency."""
    host = SilentHost().start()
    yield host
    host.stop()
