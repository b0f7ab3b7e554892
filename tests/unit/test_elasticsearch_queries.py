"""The exact request bodies ElasticsearchIndex sends, and how it maps the client's errors."""

from __future__ import annotations

import elastic_transport
import elasticsearch
import numpy as np
import pytest

from common.adapters.elasticsearch_index import (
    build_knn_query,
    build_mapping,
    index_name,
    num_candidates,
    score_to_distance,
)
from common.adapters.elasticsearch_responses import raise_for_items, translated, whole
from common.errors import DependencyError, LogoAnnError, TransientError


def test_mapping_is_explicit_and_strict() -> None:
    assert build_mapping(512) == {
        "dynamic": "strict",
        "properties": {
            "logo_id": {"type": "long"},
            "embedding": {
                "type": "dense_vector",
                "dims": 512,
                "index": True,
                "similarity": "dot_product",
                "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 100},
            },
        },
    }


def test_flat_index_types_take_no_graph_parameters() -> None:
    assert build_mapping(64, "int8_flat")["properties"]["embedding"]["index_options"] == {"type": "int8_flat"}
    assert build_mapping(64, "hnsw", m=32, ef_construction=200)["properties"]["embedding"]["index_options"] == {
        "type": "hnsw",
        "m": 32,
        "ef_construction": 200,
    }


def test_versioned_index_name() -> None:
    assert index_name("logo", 512, "int8_hnsw") == "logo-v1-512d-int8-hnsw"


@pytest.mark.parametrize(
    ("k", "minimum", "factor", "expected"),
    [
        (1, 100, 2.0, 100),
        (10, 100, 2.0, 100),
        (60, 100, 2.0, 120),
        (101, 10, 1.5, 152),
        (500, 1, 1.0, 500),
        (5_000, 100, 2.0, 10_000),
        (10_000, 100, 2.0, 10_000),
        (7, 1, 0.5, 7),
    ],
)
def test_num_candidates_policy(k: int, minimum: int, factor: float, expected: int) -> None:
    assert num_candidates(k, minimum, factor) == expected


def test_knn_query_excludes_the_query_logo_inside_the_search() -> None:
    body = build_knn_query(np.array([0.6, 0.8], dtype=np.float32), 10, exclude=42)
    assert body == {
        "knn": {
            "field": "embedding",
            "query_vector": [pytest.approx(0.6), pytest.approx(0.8)],
            "k": 10,
            "num_candidates": 100,
            "filter": {"bool": {"must_not": [{"term": {"logo_id": 42}}]}},
        },
        "size": 10,
        "_source": False,
        "track_total_hits": False,
    }
    assert all(type(v) is float for v in body["knn"]["query_vector"])  # JSON-serialisable, not numpy


def test_knn_query_without_exclusion_has_no_filter_and_follows_the_policy() -> None:
    body = build_knn_query([1.0, 0.0], 300, num_candidates_min=50, num_candidates_factor=3.0)
    assert "filter" not in body["knn"]
    assert (body["knn"]["k"], body["knn"]["num_candidates"], body["size"]) == (300, 900, 300)


@pytest.mark.parametrize(("cosine", "distance"), [(1.0, 0.0), (0.0, 0.5), (-1.0, 1.0), (0.5, 0.25)])
def test_dot_product_score_becomes_robotoff_distance(cosine: float, distance: float) -> None:
    es_score = (1.0 + cosine) / 2.0  # Elasticsearch's dot_product score
    assert score_to_distance(es_score) == pytest.approx(distance)


def api_error(status: int, kind: str = "some_exception") -> elasticsearch.ApiError:
    meta = elastic_transport.ApiResponseMeta(status, "1.1", elastic_transport.HttpHeaders(), 0.01, None)
    body = {"error": {"root_cause": [{"type": kind, "reason": "r"}], "type": kind, "reason": "r"}, "status": status}
    return elasticsearch.ApiError(kind, meta, body)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_transient(status: int) -> None:
    with pytest.raises(DependencyError) as caught, translated("search"):
        raise api_error(status)
    assert caught.value.dependency == "elasticsearch"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(status: int) -> None:
    with pytest.raises(LogoAnnError) as caught, translated("search"):
        raise api_error(status)
    assert not isinstance(caught.value, TransientError)


@pytest.mark.parametrize("exc", [elasticsearch.ConnectionError("refused"), elasticsearch.ConnectionTimeout("slow")])
def test_connection_failures_are_transient(exc: Exception) -> None:
    with pytest.raises(DependencyError), translated("bulk"):
        raise exc


def test_bulk_item_failures_raise_and_a_missing_delete_does_not() -> None:
    """Canned bulk answers: a per-item 429 happens on a real node only under write-pool pressure,
    never on demand (the contract suite's real node produces the per-item 400)."""
    ok = [{"delete": {"_id": "1", "status": 404, "result": "not_found"}}, {"index": {"_id": "2", "status": 201}}]
    raise_for_items(ok)
    bad = ok + [{"index": {"_id": "3", "status": 400, "error": {"type": "document_parsing_exception"}}}]
    with pytest.raises(LogoAnnError) as caught:
        raise_for_items(bad)
    assert not isinstance(caught.value, TransientError) and "1 of 3" in str(caught.value)
    busy = ok + [{"index": {"_id": "4", "status": 429, "error": {"type": "es_rejected_execution_exception"}}}]
    with pytest.raises(DependencyError):
        raise_for_items(busy)


def test_an_answer_some_shards_failed_is_an_outage() -> None:
    partial = {"_shards": {"total": 2, "successful": 1, "failed": 1,
                           "failures": [{"shard": 1, "reason": {"type": "no_shard_available_action_exception"}}]},
               "count": 7}  # fmt: skip
    with pytest.raises(DependencyError, match="count: 1 of 2 shards failed.*no_shard_available"):
        whole(partial, "count")
    complete = {"_shards": {"total": 2, "successful": 2, "failed": 0}, "count": 7}
    assert whole(complete, "count") is complete
