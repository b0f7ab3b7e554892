"""kNN on the production mapping (``int8_hnsw``, ``dot_product``, 512 dimensions, one shard) over
20,000 embedding-like vectors on the real node: recall@10 against exact float search.

The neighbours of a stored logo are asked for as the application asks (``exclude`` = the logo
itself, inside the graph search). ``RECALL_BOUND`` sits between what the adapter's policy gets
(``num_candidates = max(100, 2k)``) and what a starved query gets (Robotoff's ``k + 1``), so the
same bound passes the one and fails the other. Measured on this data, merged to one segment, in
three builds: 0.926-0.930 against 0.802-0.818 (20 candidates 0.85-0.86, 50 0.91: the quantized scores
cap recall below 1 whatever the candidates); the bound sits in the middle of the gap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from common.adapters.elasticsearch_index import ElasticsearchIndex
from stack.elasticsearch_node import ElasticsearchNode
from tests.es_support import embedding_like, exact_top_k

pytestmark = pytest.mark.contract
N, DIM, K, QUERIES = 20_000, 512, 10, 200
RECALL_BOUND = 0.87


@pytest.fixture(scope="module")
def production(es_node: ElasticsearchNode) -> Iterator[tuple[ElasticsearchIndex, np.ndarray]]:
    """20,000 vectors in an index of the production shape, written once for the module."""
    data = embedding_like(21, N, DIM)
    index = ElasticsearchIndex(es_node.url, alias=f"logo-knn-{uuid.uuid4().hex[:8]}", dim=DIM, timeout=120)
    assert index.index.endswith("-512d-int8-hnsw")
    index.upsert(list(range(1, N + 1)), data)
    index.flush()
    client = Elasticsearch(es_node.url, request_timeout=600)
    # One segment, as a merged production index serves: each segment is searched with its own
    # num_candidates, so the recall of a starved query grew with however many segments the writes
    # happened to leave (0.87 to 0.915 measured), and the bound below read that luck.
    client.indices.forcemerge(index=index.index, max_num_segments=1)
    index.flush()
    yield index, data
    client.options(ignore_status=404).indices.delete(index=index.index)
    client.close()


def recall_of(index: ElasticsearchIndex, data: np.ndarray, candidates: int) -> float:
    """Mean recall@10 of the neighbours of ``QUERIES`` stored logos with ``num_candidates = candidates``."""
    rows = np.random.default_rng(22).choice(len(data), QUERIES, replace=False)
    truth = exact_top_k(data, rows, K)
    index._candidates = (candidates, 0.0)
    found = [{n.logo_id for n in index.search(data[row], K, exclude=int(row) + 1)} for row in rows]
    return float(np.mean([len(f & t) / K for f, t in zip(found, truth, strict=True)]))


def test_the_policy_finds_the_neighbours(production: tuple[ElasticsearchIndex, np.ndarray]) -> None:
    index, data = production
    assert index.count() == N
    assert recall_of(index, data, 100) >= RECALL_BOUND  # the default policy for k = 10


def test_a_starved_query_misses_the_bound(production: tuple[ElasticsearchIndex, np.ndarray]) -> None:
    index, data = production
    assert recall_of(index, data, K + 1) < RECALL_BOUND  # Robotoff's num_candidates = k + 1


def test_quantized_distances_stay_close_to_exact(production: tuple[ElasticsearchIndex, np.ndarray]) -> None:
    """``int8_hnsw`` scores on quantized vectors: Robotoff distances near, not equal to, exact ones;
    the query logo never comes back and ``k`` neighbours always do."""
    index, data = production
    index._candidates = (100, 2.0)
    errors = []
    for row in (0, 4_321, 19_999):
        found = index.search(data[row], K, exclude=row + 1)
        assert len(found) == K and row + 1 not in {n.logo_id for n in found}
        exact = (1.0 - data[[n.logo_id - 1 for n in found]] @ data[row]) / 2.0
        errors.extend(abs(n.distance - float(d)) for n, d in zip(found, exact, strict=True))
    assert max(errors) < 0.01


def test_more_than_one_shard_merges_every_shards_candidates(es_node: ElasticsearchNode) -> None:
    """Three shards: each returns its own ``num_candidates`` and the node keeps the best ``k``; the
    top-k is exact on float ``hnsw``, count and ids page across shards."""
    data = embedding_like(23, 3_000, 64)
    index = ElasticsearchIndex(es_node.url, alias=f"logo-shards-{uuid.uuid4().hex[:8]}", dim=64, index_type="hnsw",
                               shards=3, num_candidates_min=500, max_retries=0)  # fmt: skip
    try:
        index.upsert(list(range(1, 3_001)), data)
        index.flush()
        shards = index._client.search_shards(index=index.alias)["shards"]
        assert len(shards) == 3
        assert index.count() == 3_000 and index.ids() == set(range(1, 3_001))
        rows = np.arange(0, 3_000, 150)
        truth = exact_top_k(data, rows, K)
        found = [{n.logo_id for n in index.search(data[row], K, exclude=int(row) + 1)} for row in rows]
        assert np.mean([len(f & t) / K for f, t in zip(found, truth, strict=True)]) >= 0.99
    finally:
        index._client.options(ignore_status=404).indices.delete(index=index.index)
