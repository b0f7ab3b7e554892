"""Contract suite for ElasticsearchIndex: the same assertions against the in-repo double and,
when ``LOGO_ANN_TEST_ES_URL`` names one, a real Elasticsearch 8 cluster."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from common.adapters import elasticsearch_index
from common.adapters.elasticsearch_index import ElasticsearchIndex
from common.errors import ConfigError, DependencyError, LogoAnnError, TransientError
from tests.conftest import free_port
from tests.doubles.elasticsearch import ElasticsearchDouble, start_double

REAL_URL = os.environ.get("LOGO_ANN_TEST_ES_URL", "")
REAL_KEY = os.environ.get("LOGO_ANN_TEST_ES_API_KEY", "")
MakeIndex = Callable[..., ElasticsearchIndex]


@pytest.fixture(scope="module")
def double() -> Iterator[ElasticsearchDouble]:
    server, _ = start_double()
    yield server
    server.stop()


@pytest.fixture(
    params=[
        "double",
        pytest.param(
            "real",
            marks=[
                pytest.mark.contract,
                pytest.mark.skipif(not REAL_URL, reason="set LOGO_ANN_TEST_ES_URL to run against a real Elasticsearch"),
            ],
        ),
    ]
)
def make_index(request: pytest.FixtureRequest) -> Iterator[MakeIndex]:
    """Builds indexes under a fresh alias per test; removes what they created."""
    url = REAL_URL if request.param == "real" else request.getfixturevalue("double").url
    alias = f"logo-test-{uuid.uuid4().hex[:10]}"
    client = Elasticsearch(url, api_key=REAL_KEY or None, request_timeout=30)
    made: list[ElasticsearchIndex] = []

    def make(dim: int = 16, **options: object) -> ElasticsearchIndex:
        options.setdefault("index_type", "hnsw")  # float graph: exact scores, comparable to brute force
        index = ElasticsearchIndex(url, api_key=REAL_KEY, alias=alias, dim=dim, max_retries=0, **options)
        made.append(index)
        return index

    yield make
    for index in made:
        client.options(ignore_status=404).indices.delete(index=index.index)
    client.close()


def unit_rows(seed: int, n: int, dim: int) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((n, dim))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def brute_force(data: np.ndarray, row: int, k: int) -> list[tuple[int, float]]:
    """(logo id, Robotoff distance) of the exact neighbours of ``row``; ids are row + 1."""
    sims = data.astype(np.float64) @ data[row].astype(np.float64)
    order = [i for i in np.argsort(-sims, kind="stable") if i != row][:k]
    return [(int(i) + 1, (1.0 - float(sims[i])) / 2.0) for i in order]


def test_index_is_created_behind_the_alias_once(make_index: MakeIndex) -> None:
    index = make_index(dim=16, index_type="int8_hnsw")
    index.ensure_index()
    make_index(dim=16, index_type="int8_hnsw").ensure_index()  # idempotent, from another instance too
    client = index._client
    assert list(client.indices.get_alias(name=index.alias).body) == [index.index]
    field = client.indices.get_mapping(index=index.alias)[index.index]["mappings"]["properties"]["embedding"]
    assert (field["dims"], field["similarity"], field["index_options"]["type"]) == (16, "dot_product", "int8_hnsw")


def test_bulk_upsert_is_idempotent(make_index: MakeIndex) -> None:
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


def test_knn_returns_the_exact_top_k(make_index: MakeIndex) -> None:
    index = make_index(num_candidates_min=1000)
    data = unit_rows(2, 300, 16)
    index.upsert(list(range(1, 301)), data)
    index.flush()
    for row in (0, 17, 150, 299):
        found = index.search(data[row], 10, exclude=row + 1)
        expected = brute_force(data, row, 10)
        assert [n.logo_id for n in found] == [i for i, _ in expected]
        assert [n.distance for n in found] == pytest.approx([d for _, d in expected], abs=1e-5)


def test_search_excludes_the_query_logo_and_still_returns_k(make_index: MakeIndex) -> None:
    index = make_index()
    data = unit_rows(3, 30, 16)
    index.upsert(list(range(1, 31)), data)
    index.flush()
    found = index.search(data[4], 29, exclude=5)
    assert len(found) == 29 and 5 not in {n.logo_id for n in found}
    assert index.search(data[4], 1)[0].logo_id == 5


def test_delete_and_list_ids(make_index: MakeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    index = make_index()
    data = unit_rows(4, 25, 16)
    index.upsert(list(range(1, 26)), data)
    index.delete([3, 4, 12345])  # an unknown id is not an error
    index.flush()
    monkeypatch.setattr(elasticsearch_index, "PAGE", 7)  # several search_after pages
    assert index.ids() == set(range(1, 26)) - {3, 4}
    assert index.count() == 23 and index.get_vectors([3]) == {}
    assert 3 not in {n.logo_id for n in index.search(data[2], 23)}


def test_reads_before_any_write_see_an_empty_index(make_index: MakeIndex) -> None:
    index = make_index()
    assert index.count() == 0 and index.ids() == set() and index.search(unit_rows(5, 1, 16)[0], 5) == []


def test_dimension_mismatch_is_refused(make_index: MakeIndex) -> None:
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


@pytest.mark.parametrize("status", [503, 429])
def test_overloaded_cluster_is_a_dependency_error(double: ElasticsearchDouble, status: int) -> None:
    index = ElasticsearchIndex(double.url, alias=f"logo-fault-{status}", dim=8, max_retries=0)
    index.upsert([1], unit_rows(9, 1, 8))
    double.fail_next(1, status=status, kind="es_rejected_execution_exception")
    with pytest.raises(DependencyError):
        index.search(unit_rows(9, 1, 8)[0], 3)
    index.flush()
    assert index.search(unit_rows(9, 1, 8)[0], 3)[0].logo_id == 1  # the fault was one response only


def test_num_candidates_sent_follows_the_policy(double: ElasticsearchDouble) -> None:
    index = ElasticsearchIndex(double.url, alias="logo-policy", dim=8, num_candidates_min=50, max_retries=0)
    index.upsert([1, 2], unit_rows(10, 2, 8))
    index.search(unit_rows(10, 1, 8)[0], 40, exclude=2)
    ((_, path, _, body),) = [r for r in double.requests if r[1] == "/logo-policy/_search"]
    assert body["knn"]["num_candidates"] == 80 and body["knn"]["filter"]["bool"]["must_not"] == [
        {"term": {"logo_id": 2}}
    ]
