"""The benchmark's second data set (``ties``) and the side-by-side table of both data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import ann_datasets
from bench.data import DATASETS, HELD_OUT, dataset, generate, spectrum_slope


@pytest.fixture(scope="module")
def ties():
    return dataset("ties", 20_000, 200, seed=3)


def test_ties_are_unit_vectors_in_few_large_clusters(ties) -> None:
    assert ties.vectors.shape == (20_000, 512) and ties.queries.shape == (200, 512)
    np.testing.assert_allclose(np.linalg.norm(ties.vectors, axis=1), 1.0, atol=1e-4)
    sizes = np.bincount(ties.cluster_of)
    assert sizes.sum() == 20_000 and sizes.max() >= 500  # heavy clusters, unlike the clip set's
    assert (np.diff(ties.cluster_of) != 0).mean() > 0.5  # clusters arrive mixed, not one after another


def test_ties_differ_in_kind_from_the_clip_set(ties) -> None:
    clip = generate(20_000, 200, seed=3)
    ours = ann_datasets.profile("ties", ties.vectors, ties.queries)
    theirs = ann_datasets.profile("clip", clip.vectors, clip.queries)
    assert ours["nn10_median"] >= 0.97 > theirs["nn10_median"]  # near-duplicates everywhere
    tied, their_tied = ours["share_gap_10_11_below_1e-4"], theirs["share_gap_10_11_below_1e-4"]
    assert tied >= 0.3 and tied >= 4 * their_tied  # 10th and 11th within 1e-4: about half the queries
    flatter, steeper = spectrum_slope(ties.vectors, sample=10_000), spectrum_slope(clip.vectors, sample=10_000)
    assert flatter >= steeper + 0.1, (flatter, steeper)  # drawn as i^-0.5 against 1/i (few clusters steepen it)


def test_the_held_out_set_is_drawn_apart_from_both(ties) -> None:
    tight = dataset("tight", 20_000, 200, seed=3)
    assert tight.vectors.shape == (20_000, 512) and "tight" in HELD_OUT and "tight" not in DATASETS
    assert not np.allclose(tight.vectors[:100], ties.vectors[:100], atol=0.1)  # its own random stream
    ours = ann_datasets.profile("tight", tight.vectors, tight.queries)
    theirs = ann_datasets.profile("ties", ties.vectors, ties.queries)
    assert ours["nn1_median"] >= 0.98 and ours["share_gap_10_11_below_1e-3"] >= 0.3  # tight near-duplicates, ties
    slope, ties_slope = spectrum_slope(tight.vectors, sample=10_000), spectrum_slope(ties.vectors, sample=10_000)
    assert slope != pytest.approx(ties_slope, abs=0.02), (slope, ties_slope)  # another spectrum (i^-0.6)
    assert ours["share_gap_10_11_below_1e-4"] != pytest.approx(theirs["share_gap_10_11_below_1e-4"], abs=0.01)


def test_an_unknown_data_set_is_refused() -> None:
    with pytest.raises(ValueError, match="ties"):
        dataset("faces", 10, 1)


def test_the_table_names_each_systems_fastest_setting_per_goal() -> None:
    def row(system: str, recall: float, qps: float, dataset: str = "ties") -> dict[str, object]:
        return {"benchmark": "ann_peers", "dataset": dataset, "n": 1000, "system": system, "setting": "s",
                "recall_at_10": recall, "qps_one_thread": qps}  # fmt: skip

    records = [
        row("logo-ann packed HNSW (x)", 0.992, 2000.0),
        row("logo-ann packed HNSW (x)", 0.985, 3000.0),
        row("hnswlib (y)", 0.995, 4000.0),
        row("hnswlib (y)", 0.97, 9000.0),
        row("faiss (z)", 0.96, 8000.0),
        row("hnswlib (y)", 0.999, 100.0, dataset="clip"),
    ]
    table = {(r["dataset"], r["recall_goal"], r["system"]): r for r in ann_datasets.table(records)}
    assert table[("ties", 0.99, "hnswlib (y)")]["ratio_to_packed"] == 2.0
    assert table[("ties", 0.98, "logo-ann packed HNSW (x)")]["qps_one_thread"] == 3000.0
    assert table[("ties", 0.98, "hnswlib (y)")]["ratio_to_packed"] == pytest.approx(4000 / 3000)
    assert ("ties", 0.98, "faiss (z)") not in table  # never reaches the goal
    assert table[("clip", 0.99, "hnswlib (y)")]["ratio_to_packed"] is None  # no packed row there


def test_both_data_sets_are_measured_with_every_peer(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("hnswlib")
    records = ann_datasets.run(3_000, 30, tmp_path, rounds=1)
    peers = [r for r in records if r["benchmark"] == "ann_peers"]
    for name in ("clip", "ties"):
        systems = {r["system"] for r in peers if r["dataset"] == name}
        assert len(systems) == 8
    assert {r["dataset"] for r in records if r["benchmark"] == "ann_data"} == {"clip", "ties"}


def test_a_run_that_leaves_peers_out_keeps_their_records_of_its_size() -> None:
    def rec(benchmark: str, system: str = "", n: int = 1000, dataset: str = "clip") -> dict[str, object]:
        return {"benchmark": benchmark, "system": system, "n": n, "dataset": dataset}

    packed_name = "logo-ann packed HNSW (rotated int8 codes)"
    packed = rec("ann_peers", packed_name)
    hnswlib, faiss = rec("ann_peers", "hnswlib float32"), rec("ann_peers", "faiss HNSW32_SQ8")
    exact, sweep = rec("ann_peers_exact"), rec("ann")
    other_size, other_set = rec("ann_peers", "hnswlib", n=2000), rec("ann", dataset="ties")
    ours = {id(packed), id(exact), id(sweep)}  # the project's records: every run measures them again
    runs = {  # the systems a run measured (None: every peer) -> the records it replaces
        None: ours | {id(hnswlib), id(faiss)},
        frozenset({packed_name}): ours,  # --packed-only
        frozenset({packed_name + ", narrow"}): ours,  # --packed-only after a change of its setting
        frozenset({packed_name, "hnswlib float32"}): ours | {id(hnswlib)},  # --skip of the others
    }
    for rerun, wanted in runs.items():
        replaced = {id(r) for r in (packed, hnswlib, faiss, exact, sweep, other_size, other_set)
                    if ann_datasets.replaced(r, 1000, ("clip",), rerun)}  # fmt: skip
        assert replaced == wanted
