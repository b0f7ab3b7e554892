"""The benchmark harness: the data generator's statistics, recall, and the ANN records' keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bench import ann
from bench.data import exact_neighbours, generate, neighbour_profile, spectrum_slope

ANN_KEYS = {
    "n",
    "dtype",
    "connectivity",
    "expansion_add",
    "expansion_search",
    "rescore",
    "recall_at_1",
    "recall_at_10",
    "recall_at_100",
    "qps_one_thread",
    "p50_ms",
    "p99_ms",
    "build_s",
    "bytes_per_vector",
    "speedup_vs_exact",
}


@pytest.fixture(scope="module")
def data():
    return generate(20_000, 50, seed=3)


def test_vectors_are_unit_and_shaped(data) -> None:
    assert data.vectors.shape == (20_000, 512) and data.queries.shape == (50, 512)
    np.testing.assert_allclose(np.linalg.norm(data.vectors, axis=1), 1.0, atol=1e-4)


def test_neighbour_cosines_in_the_stated_ranges(data) -> None:
    profile = neighbour_profile(data.vectors, sample=300)
    assert 0.94 <= profile["nn1_median"] <= 0.975
    assert 0.80 <= profile["nn10_median"] <= 0.90
    assert abs(profile["random_mean"]) < 0.05


def test_spectrum_decays_like_one_over_i(data) -> None:
    assert -1.2 <= spectrum_slope(data.vectors, sample=10_000) <= -0.8


def test_recall_on_a_hand_made_example() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = [[1, 9, 3, 2], [8, 7, 6, 5]]
    assert ann.recall_at(found, truth, 1) == pytest.approx(0.5)  # query 0 right, query 1 wrong
    assert ann.recall_at(found, truth, 2) == pytest.approx((1 + 0) / 4)  # {1,9}∩{1,2}; {8,7}∩{5,6}
    assert ann.recall_at(found, truth, 4) == pytest.approx((3 + 4) / 8)


def test_exact_neighbours_match_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((5, 8)).astype(np.float32)
    ids, _ = exact_neighbours(vectors, queries, 7, chunk=64)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :7]
    np.testing.assert_array_equal(ids, expected)


def test_harness_records_have_the_required_keys(tmp_path: Path) -> None:
    small = generate(2_000, 20, seed=5)
    records = list(ann.run(small, [ann.DEFAULT], [32], tmp_path))
    assert records[0]["benchmark"] == "ann_exact"
    rows = [r for r in records if r["benchmark"] == "ann"]
    assert rows and all(ANN_KEYS <= set(r) for r in rows)
    assert all(0.9 <= r["recall_at_10"] <= 1.0 for r in rows)
    assert all(r["bytes_per_vector"] > 512 for r in rows)  # int8 vectors plus graph links


def test_recall_with_ties_counts_a_near_tied_neighbour() -> None:
    from bench.ann_peers import plain_recall, recall_with_ties

    # ten stored vectors on a circle in the plane, the query at angle 0: true order 0, 1, ..., 9;
    # vector 10 sits at the same angle as vector 9 (a tie), vector 11 far away
    angles = np.array([0.01 * i for i in range(10)] + [0.09, 1.5])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    query = np.array([[1.0, 0.0]], np.float32)
    truth = np.arange(10)[None, :]
    tenth = (vectors[9:10] @ query[0]).astype(np.float32)
    tied = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 10]])
    wrong = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 11]])
    assert plain_recall(tied, truth) == 0.9 and recall_with_ties(tied, query, vectors, tenth) == 1.0
    assert recall_with_ties(wrong, query, vectors, tenth) == 0.9
    assert recall_with_ties(np.array([[0, 0, -1, -1, -1, -1, -1, -1, -1, -1]]), query, vectors, tenth) == 0.1


def test_plain_recall_and_recall_with_ties_agree_when_nothing_is_tied() -> None:
    from bench.ann_peers import plain_recall, recall_with_ties

    # 30 queries over 40 orthogonal unit vectors: query i's true order is i, i+1, ... (no ties);
    # 298 of the 300 returned ids are right, so both recalls are exactly 298/300
    vectors = np.eye(40, dtype=np.float32)
    weights = np.linspace(1.0, 0.5, 10, dtype=np.float32)
    queries = np.zeros((30, 40), np.float32)
    truth = np.array([[i + j for j in range(10)] for i in range(30)])
    for i in range(30):
        queries[i, truth[i]] = weights
    found = truth.copy()
    found[0, 9] = found[1, 9] = 39
    tenth = np.full(30, weights[9], np.float32)
    assert plain_recall(found, truth) == recall_with_ties(found, queries, vectors, tenth) == 298 / 300


def test_peers_measure_every_system_on_the_same_data(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("hnswlib")
    from bench import ann_peers

    small = generate(3_000, 30, seed=6)
    saved = tmp_path / "saved"
    built = [r for r in ann.run(small, [ann.DEFAULT], [], tmp_path, 64, ann.DEFAULT, saved) if r["benchmark"] == "ann"]
    params = {k: getattr(ann.DEFAULT, k) for k in ("engine", "connectivity", "connectivity_base", "expansion_add")}
    records = ann_peers.run(small, saved, params, built[0]["build_s"], tmp_path, rounds=1)
    rows = [r for r in records if r["benchmark"] == "ann_peers"]
    systems = {r["system"] for r in rows}
    assert len(systems) == 8 and {s.split(" (")[0] for s in systems if s.startswith("logo-ann")} == {
        "logo-ann packed HNSW",
        "logo-ann usearch adapter",
    }
    # hnswlib twice: at its usual build beam and at the packed index's own
    assert {s.rsplit("=", 1)[-1] for s in systems if s.startswith("hnswlib")} == {"128", "256"}
    assert all(0.5 <= r["recall_at_10"] <= r["recall_at_10_with_ties"] <= 1.0 for r in rows)
    # int8 codes and links take at least 512 B per vector, float32 vectors 2 KB
    assert all(r["resident_bytes_per_vector"] > 512 for r in rows)
    assert all(r["resident_bytes_per_vector"] > 2048 for r in rows if "hnswlib" in r["system"])
    assert {r["blas_threads"] for r in records if r["benchmark"] == "ann_peers_exact"} >= {1}


def test_a_skipped_peer_is_not_built(tmp_path: Path) -> None:
    """``--skip`` leaves out systems by name (the usearch adapter's build is half an hour at 1M)."""
    pytest.importorskip("faiss")
    pytest.importorskip("hnswlib")
    from bench import ann_peers

    names = [spec["name"] for spec in ann_peers.peer_specs(1000, tmp_path, {})]
    assert len(set(names)) == len(names)
    small = generate(2_000, 20, seed=7)
    saved = tmp_path / "saved"
    built = [r for r in ann.run(small, [ann.DEFAULT], [], tmp_path, 64, ann.DEFAULT, saved) if r["benchmark"] == "ann"]
    params = {k: getattr(ann.DEFAULT, k) for k in ("engine", "connectivity", "connectivity_base", "expansion_add")}
    left_out = frozenset(names) - {"packed", "hnswlib"}
    records = ann_peers.run(small, saved, params, built[0]["build_s"], tmp_path, rounds=1, skip=left_out)
    systems = {r["system"].split(",")[0].split(" (")[0] for r in records if r["benchmark"] == "ann_peers"}
    assert systems == {"logo-ann packed HNSW", "hnswlib float32"}


def test_the_collection_run_measures_recall_at_wider_beams(tmp_path: Path) -> None:
    from bench import collection
    from common.embedded_index import PackedIndex

    data = generate(3_000, 30, dim=64, seed=5)
    index = PackedIndex(tmp_path, 64)
    index.upsert(range(1, 3_001), data.vectors)
    queries = data.queries
    ids, _ = exact_neighbours(data.vectors, queries, 10)
    wider = collection.wider_beams(index, queries, ids + 1, rounds=1)  # logo ids are rows + 1
    assert [row["expansion_search"] for row in wider] == list(collection.WIDER)
    assert all(row["recall_at_10"] >= 0.95 and row["queries_per_s"] > 0 for row in wider)
    shuffled = np.roll(ids + 1, 1, axis=0)  # another query's neighbours: the recall must fall
    assert collection.measured(index, queries, shuffled, rounds=1)[0] < 0.5


def test_the_bench_measures_the_narrow_beam_the_index_is_configured_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGO_ANN_INDEX_EXPANSION_SEARCH", "160")
    monkeypatch.setenv("LOGO_ANN_INDEX_EXPANSION_SEARCH_NARROW", "96")
    monkeypatch.setenv("LOGO_ANN_INDEX_NEAR_TIE_GAP", "0.004")
    setting, ef = ann.configured()
    assert (ef, setting.narrow_share, setting.near_tie_gap) == (160, 0.6, 0.004)
    assert "narrow=0.6" in setting.label()
    small = generate(2_000, 20, dim=64, seed=9)
    index, _ = ann.build(setting, small.vectors, tmp_path / "index", ef)
    assert (index.expansion_search_narrow, index.near_tie_gap) == (96, 0.004)  # as logo-ann opens it
    truth, _ = exact_neighbours(small.vectors, small.queries, 100)
    record = ann.measure(index, setting, small, truth, 200, 1.0)
    assert (record["expansion_search"], record["expansion_search_narrow"]) == (200, 120)  # the share kept
    assert index.narrow_beam() == 120
    fixed = dataclasses.replace(setting, narrow_share=0.0)
    assert ann.measure(index, fixed, small, truth, 200, 1.0)["expansion_search_narrow"] == 0
    assert index.narrow_beam() == 0
    index.close()
