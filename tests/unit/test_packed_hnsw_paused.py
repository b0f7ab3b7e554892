"""A served search paused at a narrow beam and resumed to the wide one only for queries whose k-th and
(k+1)-th results are near-ties (``ph_query`` and ``ph_search_refined``, ``narrow`` and ``gap``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.embedded_index import _packed_hnsw as ph
from common.embedded_index._int8_codec import Int8Codec
from common.embedded_index.packed_index import PackedIndex
from common.errors import ConfigError
from common.settings import load_settings
from tests.index_support import unit_rows

K, NARROW, WIDE, RERANK, GAP = 10, 16, 64, 16, 0.002


def clustered(seed: int, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Members of tight clusters (many near-ties at the 10th neighbour) and queries drawn like them."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng, 80, dim)

    def members(count: int) -> np.ndarray:
        rows = centres[rng.integers(0, len(centres), count)] + 0.06 * rng.normal(size=(count, dim))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    return members(n), members(300)


def built(seed: int, n: int, threads: int) -> tuple[Int8Codec, ph.PackedGraph, np.ndarray]:
    """The codec, a graph of ``clustered`` vectors (codes and residuals) and the queries, rotated."""
    dim = 64
    vectors, queries = clustered(seed, n, dim)
    codec = Int8Codec(dim)
    codes, residuals = codec.encode_refined(vectors)
    graph = ph.PackedGraph(dim, 8, 16, 64, threads=threads)
    graph.add(np.arange(len(vectors)), codes, residuals)
    return codec, graph, codec.rotate(queries)


def test_each_query_gets_the_narrow_or_the_wide_beams_results_as_its_own_near_ties_say() -> None:
    _, graph, queries = built(7, 6000, threads=1)
    widened = 0
    for turned in queries:
        narrow_keys, narrow_distances = graph.query(turned, K + 1, NARROW, RERANK)
        wide = graph.query(turned, K, WIDE, RERANK)
        got = graph.query(turned, K, WIDE, RERANK, narrow=NARROW, gap=GAP)
        # the engine's test, in its own float32 arithmetic: cosine = 1 - 2 * distance
        cosines = (1.0 - 2.0 * np.asarray(narrow_distances, np.float64)).astype(np.float32)
        near = len(cosines) > K and cosines[K - 1] - cosines[K] < np.float32(GAP)
        widened += int(near)
        assert got == (wide if near else (narrow_keys[:K], narrow_distances[:K]))
    assert 0 < widened < len(queries)  # both branches taken on this data


def test_a_batch_widens_the_same_queries_as_one_query_at_a_time() -> None:
    codec, graph, turned = built(8, 4000, threads=2)
    query_codes = np.stack([codec.code_of_turned(row) for row in turned])
    keys, cosines = graph.search_keys_many(query_codes, turned, K, WIDE, RERANK, narrow=NARROW, gap=GAP)
    for row, one in enumerate(turned):
        found, distances = graph.query(one, K, WIDE, RERANK, narrow=NARROW, gap=GAP)
        assert keys[row].tolist() == found
        assert np.allclose((1.0 - cosines[row]) / 2.0, distances, atol=1e-12)


def test_an_index_with_a_narrow_beam_answers_each_query_as_the_narrow_or_the_full_beam(tmp_path: Path) -> None:
    vectors, queries = clustered(9, 6000, 64)
    index = PackedIndex(
        tmp_path, 64, connectivity=8, connectivity_base=16, expansion_add=64, expansion_search=WIDE, rerank=RERANK,
        expansion_search_narrow=NARROW,
    )  # fmt: skip
    index.upsert(range(1, len(vectors) + 1), vectors)
    assert index.health()["expansion_search_narrow_now"] == NARROW
    none = 0  # no logo has id 0: what ``search_many`` leaves out, ``search`` leaves out too
    paused = [index.search(query, K, exclude=none) for query in queries]
    batch = index.search_many(queries, K, [none] * len(queries))
    assert [ids.tolist() for ids, _ in batch] == [[n.logo_id for n in found] for found in paused]
    index.expansion_search_narrow = 0
    wide = [index.search(query, K, exclude=none) for query in queries]
    index.params["expansion_search"] = NARROW
    narrow = [index.search(query, K, exclude=none) for query in queries]
    triples = zip(paused, narrow, wide, strict=True)
    kinds = ["narrow" if p == n else "wide" if p == w else "neither" for p, n, w in triples]
    differing = [kind for kind, n, w in zip(kinds, narrow, wide, strict=True) if n != w]
    assert "neither" not in kinds and {"narrow", "wide"} <= set(differing)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("LOGO_ANN_INDEX_NEAR_TIE_GAP", "-0.001", "a cosine gap in"),
        ("LOGO_ANN_INDEX_NEAR_TIE_GAP", "nan", "a cosine gap in"),
        ("LOGO_ANN_INDEX_EXPANSION_SEARCH_NARROW", "-1", "at least 0"),
        ("LOGO_ANN_INDEX_EXPANSION_SEARCH_GROWTH", "-0.5", "an exponent in"),
        ("LOGO_ANN_INDEX_EXPANSION_SEARCH_GROWTH", "nan", "an exponent in"),
    ],
)
def test_a_narrow_beam_setting_the_engine_would_refuse_is_refused_at_start(name: str, raw: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}=.*{expected}"):
        load_settings({name: raw})


def test_the_service_searches_paused_by_default() -> None:
    settings = load_settings({})
    assert 0 < settings.index_expansion_search_narrow < settings.index_expansion_search
    assert load_settings({"LOGO_ANN_INDEX_EXPANSION_SEARCH_NARROW": "0"}).index_expansion_search_narrow == 0  # off
