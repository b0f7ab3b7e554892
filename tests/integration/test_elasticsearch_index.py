"""Contract suite for ElasticsearchIndex on a real Elasticsearch 8 node (``tests/es_node``, the
session's ``es_node``): lifecycle, bulk writes, reads, deletes, health, errors.

kNN recall on the production mapping is in ``test_elasticsearch_knn.py``; shards, faults, the
alias swap and a node restart in ``test_elasticsearch_cluster.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from common.adapters import elasticsearch_index
from common.adapters.elasticsearch_index import ElasticsearchIndex
from common.errors import ConfigError, DependencyError, InternalError, LogoAnnError, TransientError
from stack.elasticsearch_node import VERSION
from stack.services import free_port
from tests.es_support import MakeIndex, brute_force, make_index, unit_rows  # noqa: F401

pytestmark = pytest.mark.contract


def test_index_is_created_behind_the_alias_once(make_index: MakeIndex) -> None:  # noqa: F811
    index = make_index(dim=512, index_type="int8_hnsw")
    index.ensure_index()
    make_index(dim=512, index_type="int8_hnsw").ensure_index()  # idempotent, from another instance too
    client = index._client
    assert index.index == f"{index.alias}-v1-512d-int8-hnsw"
    assert list(client.indices.get_alias(name=index.alias).body) == [index.index]
    field = client.indices.get_mapping(index=index.alias)[index.index]["mappings"]["properties"]["embedding"]
    assert (field["dims"], field["similarity"], field["index_options"]["type"]) == (512, "dot_product", "int8_hnsw")


def test_bulk_upsert_is_idempotent(make_index: MakeIndex) -> None:  # noqa: F811
    index = make_index()
    data = unit_rows(1, 40, 16)
    index.upsert(list(range(1, 41)), data)
    index.flush()
    assert index.count() == 40
    index.upsert(list(range(1, 41)), data)
    index.upsert([7], data[8:9])  # a changed vector replaces the old one
    index.flush()
    assert index.count() == 40
    stored = index.get_vectors([1, 7, 999])
    assert set(stored) == {1, 7}
    assert np.allclose(stored[1], data[0], atol=1e-6) and np.allclose(stored[7], data[8], atol=1e-6)


def test_bulk_writes_cross_chunk_boundaries_and_a_bad_item_raises(make_index: MakeIndex) -> None:  # noqa: F811
    """1,501 documents go in 4 bulk requests of 500; one non-unit vector (``dot_product``
    refuses it) in the third request fails that item alone, and the write raises there, naming it
    (the caller retries the whole write; every write is an idempotent ``index`` by id)."""
    index = make_index(dim=32)
    data = unit_rows(11, 1501, 32)
    index.upsert(list(range(1, 1502)), data)
    index.flush()
    assert index.count() == 1501 and index.ids() == set(range(1, 1502))
    stored = index.get_vectors([1, 500, 501, 1000, 1001, 1501])
    assert all(np.allclose(stored[i], data[i - 1], atol=1e-6) for i in (1, 500, 501, 1000, 1001, 1501))
    bad = data.copy()
    bad[1203] *= 2.0  # |v| = 2
    with pytest.raises(InternalError, match="1 of 500 items failed.*'3204'.*document_parsing_exception"):
        index.upsert(list(range(2001, 3502)), bad)
    index.flush()
    assert index.count() == 1501 + 1499  # the first three chunks but the bad item; the fourth never sent
    assert index.get_vectors([3203, 3204, 3205, 3501]).keys() == {3203, 3205}


def test_knn_returns_the_exact_top_k(make_index: MakeIndex) -> None:  # noqa: F811
    index = make_index(num_candidates_min=1000)
    data = unit_rows(2, 300, 16)
    index.upsert(list(range(1, 301)), data)
    index.flush()
    for row in (0, 17, 150, 299):
        found = index.search(data[row], 10, exclude=row + 1)
        expected = brute_force(data, row, 10)
        assert [n.logo_id for n in found] == [i for i, _ in expected]
        assert [n.distance for n in found] == pytest.approx([d for _, d in expected], abs=1e-5)


def test_search_excludes_the_query_logo_and_still_returns_k(make_index: MakeIndex) -> None:  # noqa: F811
    index = make_index()
    data = unit_rows(3, 30, 16)
    index.upsert(list(range(1, 31)), data)
    index.flush()
    found = index.search(data[4], 29, exclude=5)
    assert len(found) == 29 and 5 not in {n.logo_id for n in found}
    assert index.search(data[4], 1)[0].logo_id == 5


def test_delete_and_list_ids(make_index: MakeIndex, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    index = make_index()
    data = unit_rows(4, 25, 16)
    index.upsert(list(range(1, 26)), data)
    index.delete([3, 4, 12345])  # an unknown id is not an error
    index.flush()
    monkeypatch.setattr(elasticsearch_index, "PAGE", 7)  # several search_after pages
    assert index.ids() == set(range(1, 26)) - {3, 4}
    assert index.count() == 23 and index.get_vectors([3]) == {}
    assert 3 not in {n.logo_id for n in index.search(data[2], 23)}


def test_writes_are_searchable_after_a_refresh(make_index: MakeIndex, es_client: Elasticsearch) -> None:  # noqa: F811
    index = make_index()
    index.ensure_index()
    es_client.indices.put_settings(index=index.index, settings={"refresh_interval": "-1"})
    index.upsert([1, 2], unit_rows(12, 2, 16))
    assert index.count() == 0 and index.get_vectors([1]).keys() == {1}  # mget is real-time, search is not
    index.flush()
    assert index.count() == 2 and {n.logo_id for n in index.search(unit_rows(12, 1, 16)[0], 2)} == {1, 2}


def test_reads_before_any_write_see_an_empty_index(make_index: MakeIndex) -> None:  # noqa: F811
    index = make_index()
    assert index.count() == 0 and index.ids() == set() and index.search(unit_rows(5, 1, 16)[0], 5) == []


def test_dimension_mismatch_is_refused(make_index: MakeIndex) -> None:  # noqa: F811
    small = make_index(dim=8)
    small.upsert([1], unit_rows(6, 1, 8))
    with pytest.raises(ConfigError, match="8"):
        make_index(dim=16).ensure_index()
    wrong = [
        {"index": {"_index": small.alias, "_id": "2"}},
        {"logo_id": 2, "embedding": unit_rows(7, 1, 16)[0].tolist()},
    ]
    with pytest.raises(LogoAnnError) as caught:
        small._bulk(wrong)  # the server's own check, past the adapter's
    assert not isinstance(caught.value, TransientError)


def test_health_describes_the_live_node(make_index: MakeIndex) -> None:  # noqa: F811
    index = make_index(dim=8)
    index.upsert([1], unit_rows(13, 1, 8))
    health = index.health()
    assert health["status"] == "green" and health["version"] == VERSION and health["cluster"] == "logo-ann"
    assert (health["alias"], health["index"]) == (index.alias, index.index)


def test_unreachable_cluster_is_a_dependency_error() -> None:
    index = ElasticsearchIndex(f"http://127.0.0.1:{free_port()}", dim=8, max_retries=0, timeout=2)
    for call in (
        lambda: index.upsert([1], unit_rows(8, 1, 8)),
        lambda: index.search(unit_rows(8, 1, 8)[0], 3),
        index.count,
        index.health,
    ):
        with pytest.raises(DependencyError) as caught:
            call()
        assert caught.value.dependency == "elasticsearch"
