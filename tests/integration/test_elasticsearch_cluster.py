"""What a real node does that a healthy one-shard index never shows: partial shard failures,
overload (429) and unavailable shards (503) produced on demand, a request timeout, a re-index
that swaps the alias while reads go on, and the node stopped and started with its data."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from common.adapters.elasticsearch_index import build_mapping, index_name
from common.errors import DependencyError
from stack.elasticsearch_node import ElasticsearchNode
from tests.es_support import MakeIndex, inflight_limit, make_index, unit_rows  # noqa: F401

pytestmark = pytest.mark.contract


def operations_for(index: str, ids: list[int], data: np.ndarray) -> list[dict[str, object]]:
    """Bulk ``index`` operations straight into a concrete index (an operator's, not the adapter's)."""
    operations: list[dict[str, object]] = []
    for logo_id, row in zip(ids, data, strict=True):
        operations.append({"index": {"_index": index, "_id": str(logo_id)}})
        operations.append({"logo_id": logo_id, "embedding": row.tolist()})
    return operations


def test_a_partial_shard_failure_is_an_error(make_index: MakeIndex, es_client: Elasticsearch) -> None:  # noqa: F811
    """One of two shards cannot be allocated (at most one shard per node): the node answers HTTP
    200 with ``_shards.failed = 1`` and the other shard's hits; the adapter raises instead."""
    index = make_index(dim=8, shards=2)
    settings = {"number_of_shards": 2, "number_of_replicas": 0, "index.routing.allocation.total_shards_per_node": 1}
    es_client.indices.create(index=index.index, mappings=build_mapping(8, "hnsw"), settings=settings,
                             aliases={index.alias: {"is_write_index": True}}, wait_for_active_shards="0")  # fmt: skip
    data = unit_rows(31, 20, 8)
    operations = operations_for(index.index, list(range(1, 21)), data)
    written = es_client.bulk(operations=operations, timeout="1s", refresh=True)  # the missing shard's share fails
    stored = sum(1 for item in written["items"] if item["index"]["status"] == 201)
    assert 0 < stored < 20
    raw = es_client.count(index=index.alias)
    assert (raw["_shards"]["failed"], raw["count"]) == (1, stored)  # what a plain client takes for the answer
    with pytest.raises(DependencyError, match="count: 1 of 2 shards failed"):
        index.count()
    for call in (index.ids, lambda: index.search(data[0], 5)):  # searches refuse partial results: 503
        with pytest.raises(DependencyError, match="503 search_phase_execution_exception"):
            call()


def test_an_overloaded_node_is_a_dependency_error(make_index: MakeIndex, es_client: Elasticsearch) -> None:  # noqa: F811
    index = make_index(dim=64)
    data = unit_rows(32, 10, 64)
    index.upsert(list(range(1, 11)), data)
    index.flush()
    with inflight_limit(es_client, "300b"), pytest.raises(DependencyError, match="429.*circuit_breaking"):
        index.search(data[0], 3)  # a 64-d query is about 1 kB
    assert index.search(data[0], 3)[0].logo_id == 1  # the fault lasted as long as the limit


def test_unavailable_shards_are_a_dependency_error(make_index: MakeIndex, es_client: Elasticsearch) -> None:  # noqa: F811
    """The index's only shard has nowhere to go (an allocation filter no node matches): the node
    answers 503; once the filter goes, the same adapter writes and finds its document."""
    index = make_index(dim=8)
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "index.routing.allocation.require._name": "nowhere"}
    es_client.indices.create(index=index.index, mappings=build_mapping(8, "hnsw"), settings=settings,
                             aliases={index.alias: {"is_write_index": True}}, wait_for_active_shards="0")  # fmt: skip
    with pytest.raises(DependencyError, match="503"):
        index.search(unit_rows(33, 1, 8)[0], 1)
    es_client.indices.put_settings(index=index.index, settings={"index.routing.allocation.require._name": None})
    es_client.cluster.health(index=index.index, wait_for_status="green", timeout="30s")
    index.upsert([1], unit_rows(33, 1, 8))
    index.flush()
    assert index.search(unit_rows(33, 1, 8)[0], 1)[0].logo_id == 1


def test_a_request_past_its_timeout_is_a_dependency_error(make_index: MakeIndex) -> None:  # noqa: F811
    """A 2,000-document write of 512-d vectors cannot finish in 5 ms (on a busy machine the 5 ms may
    run out while connecting: the client says "Connection error"); sent again with time to finish,
    it leaves each document once (writes are ``index`` by id)."""
    data = unit_rows(34, 2_000, 512)
    patient = make_index(dim=512, index_type="int8_hnsw", timeout=120)
    patient.ensure_index()
    hurried = make_index(dim=512, index_type="int8_hnsw", timeout=0.005)
    with pytest.raises(DependencyError, match="[Tt]imeout|timed out|Connection error"):
        hurried.upsert(list(range(1, 2_001)), data)
    patient.upsert(list(range(1, 2_001)), data)
    patient.flush()
    assert patient.count() == 2_000


def test_a_reindex_swaps_the_alias_while_reads_go_on(make_index: MakeIndex, es_client: Elasticsearch) -> None:  # noqa: F811
    """An operator builds ``v2`` (float ``hnsw``) beside ``v1`` (``int8_hnsw``), points the alias at
    both for a moment, then at ``v2`` alone. Searches and ``get_vectors`` through the alias run all
    along: none fails, each finds the ``k`` distinct nearest logos and every vector."""
    index = make_index(dim=32, index_type="int8_hnsw", num_candidates_min=500)
    data = unit_rows(35, 400, 32)
    ids = list(range(1, 401))
    index.upsert(ids, data)
    index.flush()
    old, new = index.index, index_name(index.alias, 32, "hnsw", version=2)
    es_client.indices.create(index=new, mappings=build_mapping(32, "hnsw"),
                             settings={"number_of_shards": 2, "number_of_replicas": 0})  # fmt: skip
    failures: list[str] = []
    reads = {"search": 0, "get_vectors": 0}
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                found = index.search(data[7], 10, exclude=8)
                if len({n.logo_id for n in found}) != 10 or found[0].logo_id != expected_first:
                    failures.append(f"search: {[n.logo_id for n in found]}")
                reads["search"] += 1
                vectors = index.get_vectors(ids[:50])
                if set(vectors) != set(ids[:50]):
                    failures.append(f"get_vectors: {len(vectors)} of 50")
                reads["get_vectors"] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                failures.append(repr(exc))

    expected_first = int(np.argsort(-(data @ data[7]))[1]) + 1
    reader = threading.Thread(target=read)
    reader.start()
    try:
        es_client.bulk(operations=operations_for(new, ids, data), refresh=True)  # the re-index: every vector
        es_client.indices.update_aliases(actions=[{"add": {"index": new, "alias": index.alias}}])
        time.sleep(1.5)  # the alias spans both indices
        spanning = len(es_client.indices.get_alias(name=index.alias).body)
        es_client.indices.update_aliases(actions=[
            {"remove": {"index": old, "alias": index.alias}},
            {"add": {"index": new, "alias": index.alias, "is_write_index": True}},
        ])  # fmt: skip
        time.sleep(1.0)
    finally:
        done.set()
        reader.join(timeout=30)
    assert spanning == 2 and failures == [] and min(reads.values()) > 3, (failures[:5], reads)
    assert list(es_client.indices.get_alias(name=index.alias).body) == [new]
    index.upsert([401], unit_rows(36, 1, 32))  # writes follow the alias to v2
    assert es_client.get(index=new, id="401")["found"]


def test_the_node_restarts_with_its_data(make_index: MakeIndex, es_node: ElasticsearchNode) -> None:  # noqa: F811
    """Stopped, the node is a dependency error; started again on its data folder, the same index
    (the same client too) answers with every document and vector."""
    index = make_index(dim=16, index_type="int8_hnsw", timeout=5)
    data = unit_rows(37, 100, 16)
    index.upsert(list(range(1, 101)), data)
    index.flush()
    es_node.stop()
    try:
        with pytest.raises(DependencyError):
            index.count()
    finally:
        es_node.start()
    es_node_client = Elasticsearch(es_node.url)
    es_node_client.cluster.health(index=index.alias, wait_for_status="green", timeout="60s")
    es_node_client.close()
    assert index.count() == 100 and index.ids() == set(range(1, 101))
    assert np.allclose(index.get_vectors([42])[42], data[41], atol=1e-6)
    assert index.search(data[41], 1)[0].logo_id == 42
