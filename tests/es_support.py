"""Helpers of the Elasticsearch contract suite: indexes under the test's fresh alias on the
session's real node (``es_node``, ``es_alias`` in ``tests/conftest.py``), unit vectors, exact
neighbours, a real 429 on demand."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from common.adapters.elasticsearch_index import ElasticsearchIndex
from stack.elasticsearch_node import ElasticsearchNode

MakeIndex = Callable[..., ElasticsearchIndex]


@pytest.fixture
def make_index(es_node: ElasticsearchNode, es_alias: str) -> MakeIndex:
    """Builds indexes under the test's fresh alias."""

    def make(dim: int = 16, **options: object) -> ElasticsearchIndex:
        options.setdefault("index_type", "hnsw")  # float graph: exact scores, comparable to brute force
        options.setdefault("max_retries", 0)
        return ElasticsearchIndex(es_node.url, alias=es_alias, dim=dim, **options)  # type: ignore[arg-type]

    return make


@contextlib.contextmanager
def inflight_limit(client: Elasticsearch, limit: str) -> Iterator[None]:
    """The node's in-flight request breaker at ``limit``: every larger request gets a real 429
    (``circuit_breaking_exception``) until the block ends; small ones (the reset itself) pass."""
    client.cluster.put_settings(transient={"network.breaker.inflight_requests.limit": limit})
    try:
        yield
    finally:
        client.cluster.put_settings(transient={"network.breaker.inflight_requests.limit": None})


def unit_rows(seed: int, n: int, dim: int) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((n, dim))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def embedding_like(seed: int, n: int, dim: int = 512) -> np.ndarray:
    """Unit rows whose variances decay as ``1 / i`` under a random rotation (as CLIP embeddings'
    do): neighbours are found by a graph walk, not by luck, as in random isotropic data."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(1.0 / np.arange(1, dim + 1))
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    rows = (rng.standard_normal((n, dim)) * scale) @ (q * np.sign(np.diag(r)))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def brute_force(data: np.ndarray, row: int, k: int) -> list[tuple[int, float]]:
    """(logo id, Robotoff distance) of the exact neighbours of ``row``; ids are row + 1."""
    sims = data.astype(np.float64) @ data[row].astype(np.float64)
    order = [i for i in np.argsort(-sims, kind="stable") if i != row][:k]
    return [(int(i) + 1, (1.0 - float(sims[i])) / 2.0) for i in order]


def exact_top_k(data: np.ndarray, rows: np.ndarray, k: int) -> list[set[int]]:
    """Ids (row + 1) of the ``k`` exact nearest neighbours of each stored row, the row itself excluded."""
    sims = data[rows] @ data.T
    sims[np.arange(len(rows)), rows] = -np.inf
    return [set((np.argpartition(-line, k)[:k] + 1).tolist()) for line in sims]
