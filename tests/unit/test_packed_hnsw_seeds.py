"""Seeded builds of the packed HNSW engine (``_seeds``, ``ph_seed_merge``, the seeds of ``ph_insert``):
seeds are the nearest earlier slots, an insert never links to a slot after its own through them, a
seeded narrow build finds what the wide one does, and staged rows are linked before anything reads
them."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from common.adapters.build import build_index
from common.embedded_index import _packed_hnsw as ph
from common.embedded_index import _packed_hnsw_binding as binding
from common.embedded_index import _seeds as seeding
from common.embedded_index._int8_codec import Int8Codec
from common.embedded_index.packed_index import PackedIndex
from common.errors import ConfigError
from common.settings import load_settings
from tests.index_support import FakeStore, unit_rows

DIM = 32
N = 12_000


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    # near-duplicate clusters, in random order: many near-ties among each row's neighbours
    return unit_rows(np.random.default_rng(61), N, DIM, clusters=300, spread=0.25)


@pytest.fixture
def seeded_from_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeding, "SEEDED_FROM", 1024)


def exact_earlier(codes: np.ndarray, first: int, k: int) -> list[set[int]]:
    """For each slot from ``first``, its ``k`` best slots before it by the cosine of the codes."""
    unit = seeding.unit_rows(codes)
    out = []
    for slot in range(first, len(codes)):
        scores = unit[:slot] @ unit[slot]
        out.append(set(np.argsort(-scores, kind="stable")[:k].tolist()))
    return out


def test_the_merge_keeps_the_best_earlier_slots_of_each_row() -> None:
    lib = binding.library()
    rng = np.random.default_rng(62)
    n, k = 50, 8
    best = np.full((n, k), seeding.NONE, np.uint32)
    best_s = np.full((n, k), -np.inf, np.float32)
    qslots = np.arange(1000, 1000 + n, dtype=np.uint32)
    every = []
    drawn = rng.permutation(1000 + n)[:360].reshape(3, 120)
    for block in drawn:  # three blocks of distinct columns, as three cells give
        dslots = np.sort(block).astype(np.uint32)
        scores = rng.standard_normal((n, len(dslots))).astype(np.float32)
        rows = np.arange(n, dtype=np.uint32)
        assert lib.ph_seed_merge(scores, n, len(dslots), rows, qslots, dslots, k, n, best, best_s) == 0
        every.append((dslots, scores))
    for r in range(n):
        pairs = {int(d): float(s) for dslots, scores in every for d, s in zip(dslots, scores[r], strict=True)}
        earlier = sorted((s, d) for d, s in pairs.items() if d < qslots[r])[-k:]
        assert set(best[r].tolist()) == {d for _, d in earlier}, r


def test_the_merge_refuses_a_row_out_of_range_or_a_width_past_its_bound() -> None:
    lib = binding.library()
    best = np.full((4, 8), seeding.NONE, np.uint32)
    best_s = np.full((4, 8), -np.inf, np.float32)
    scores = np.zeros((1, 2), np.float32)
    one, two = np.zeros(1, np.uint32), np.arange(2, dtype=np.uint32)
    assert lib.ph_seed_merge(scores, 1, 2, np.array([4], np.uint32), one, two, 8, 4, best, best_s) == binding.EPARAM
    assert lib.ph_seed_merge(scores, 1, 2, one, one, two, 0, 4, best, best_s) == binding.EPARAM
    assert lib.ph_seed_merge(scores, 1, 2, one, one, two, 257, 4, best, best_s) == binding.EPARAM
    assert (best == seeding.NONE).all()


def test_seeds_are_the_nearest_earlier_slots_when_every_cell_is_probed(
    monkeypatch: pytest.MonkeyPatch, data: np.ndarray
) -> None:
    codes = Int8Codec(DIM).encode(data[:3000])
    partition = seeding.Partition.drawn(codes[:2000], 3000, seed=1)
    assert 1 < len(partition.centroids) < 200
    monkeypatch.setattr(seeding, "PROBES", len(partition.centroids))  # every cell: the search is exhaustive
    partition.assign(codes, 1000)  # slots assigned before, as an earlier batch leaves them
    seeds = seeding.seeds_for(binding.library(), partition, codes, 1000, 2000)
    truth = exact_earlier(codes, 1000, seeding.SEEDS)
    for row in range(2000):
        found = set(seeds[row].tolist())
        assert found == truth[row], row  # all before the slot, the best of them (ties aside: none here)


def test_a_sequential_insert_never_takes_a_seed_at_or_after_its_own_slot(
    data: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = Int8Codec(DIM).encode(data[:2000])
    graphs = []
    for seeds in (None, np.array([[1000 + i, 1000 + min(i + 1, 999), 1999] for i in range(1000)], np.uint32)):
        graph = ph.PackedGraph(DIM, m=8, expansion_add=16, threads=1)
        graph.add(np.arange(1000), codes[:1000])
        graph.stage(np.arange(1000, 2000), codes[1000:])
        if seeds is None:
            graph.link_staged()
        else:  # each row seeded only with itself and slots after it: every seed is passed over
            monkeypatch.setattr(graph, "_seeds", lambda a, first, n, s=seeds: (s, 16))
            graph.link_staged()
        graphs.append(graph.links())
    assert np.array_equal(graphs[0], graphs[1])


def test_the_engine_refuses_seeds_wider_than_its_bound(data: np.ndarray) -> None:
    graph = ph.PackedGraph(DIM, m=8, expansion_add=32)
    graph.add(np.arange(100), Int8Codec(DIM).encode(data[:100]))
    struct = graph._struct(graph.state)
    wide = np.zeros((1, 257), np.uint32)
    for call in (graph._lib.ph_insert, graph._lib.ph_insert_parallel):
        extra = () if call is graph._lib.ph_insert else (2,)
        rc = call(ctypes.byref(struct), 0, np.zeros(0, np.int32), np.zeros(0, np.uint32), 32, *extra, wide, 257)
        assert rc == binding.EPARAM and struct.count == 100


@pytest.mark.usefixtures("seeded_from_small")
@pytest.mark.parametrize("threads", [1, 3])
def test_a_seeded_narrow_build_finds_what_the_wide_build_finds(data: np.ndarray, threads: int) -> None:
    codes = Int8Codec(DIM).encode(data)
    queries = np.random.default_rng(63).choice(N, 400, replace=False)
    truth = np.argsort(-(data[queries] @ data.T), axis=1)[:, 1:11]  # the query itself left out

    def recall(graph: ph.PackedGraph) -> float:
        slots, _ = graph.search(codes[queries], 11, 24)
        return float(np.mean([len(set(slots[i]) & set(truth[i])) / 10 for i in range(len(queries))]))

    built = {}
    for name, beam, seeded in (("wide", 128, 0), ("narrow", 32, 0), ("seeded", 128, 32)):
        graph = ph.PackedGraph(DIM, m=8, m0=16, expansion_add=beam, threads=threads, expansion_add_seeded=seeded)
        graph.reserve(N)
        for start in range(0, N, 3000):  # staged page by page, linked as one batch
            graph.stage(np.arange(start, start + 3000), codes[start : start + 3000])
        assert len(graph) == 0 and graph.staged == N
        graph.link_staged()
        assert len(graph) == N and graph._lib.ph_check(ctypes.byref(graph._struct(graph.state))) == 0
        built[name] = recall(graph)
    # seeds at beam 32 recover much of what the narrow search alone loses against the wide one
    # (here: wide 0.977, narrow 0.949-0.957, seeded 0.967-0.972)
    assert built["seeded"] >= built["narrow"] + 0.005 and built["seeded"] >= built["wide"] - 0.015, built


def test_staged_rows_are_linked_before_a_removal_a_save_or_an_upsert_reads_them(
    tmp_path: Path, data: np.ndarray
) -> None:
    codes = Int8Codec(DIM).encode(data[:600])
    graph = ph.PackedGraph(DIM, m=8, expansion_add=32)
    graph.add(np.arange(100), codes[:100])
    graph.stage(np.arange(100, 300), codes[100:300])
    assert len(graph) == 100 and graph.search(codes[200:201], 1, 32)[0][0, 0] != 200  # not seen yet
    graph.remove(np.array([5]))
    assert graph.staged == 0 and len(graph) == 299 and graph.search(codes[200:201], 1, 32)[0][0, 0] == 200
    graph.stage(np.arange(300, 400), codes[300:400])
    graph.save(str(tmp_path / "g.npz"))
    reopened = ph.PackedGraph(DIM, m=8, expansion_add=32)
    reopened.load(str(tmp_path / "g.npz"))
    assert len(reopened) == 399 and reopened.search(codes[350:351], 1, 32)[0][0, 0] == 350
    # a stage past the reserved room grows the arrays and keeps the staged rows' codes and keys
    graph.stage(np.arange(400, 600), codes[400:600])
    slots = graph.add(np.array([10_000]), codes[:1])
    assert slots.tolist() == [600] and graph.state.keys[400:600].tolist() == list(range(400, 600))
    assert graph.search(codes[500:501], 1, 32)[0][0, 0] == 500

    index = PackedIndex(tmp_path / "index", DIM, connectivity=8)
    index.add_absent(range(50), data[:50])
    index.upsert([7], data[7:8])  # the staged key 7 is found and replaced, not added twice
    assert index.count() == 50
    index.add_absent(range(50, 80), data[50:80])
    index.added_absent()
    assert index.count() == 80 and index.search(data[60], 1)[0].logo_id == 60


def test_a_rebuild_with_seeding_configured_builds_seeded_from_the_store_pages(
    tmp_path: Path, data: np.ndarray, seeded_from_small: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings({"LOGO_ANN_HOME": str(tmp_path), "LOGO_ANN_INDEX_EXPANSION_ADD_SEEDED": "40"})
    assert load_settings({"LOGO_ANN_HOME": str(tmp_path)}).index_expansion_add_seeded == 0  # off by default
    index = build_index(settings, DIM)
    assert isinstance(index, PackedIndex)
    store = FakeStore()
    for row in range(5000):
        store.put(row, data[row])
    calls: list[int] = []
    real = seeding.seeds_for

    def counted(lib: ctypes.CDLL, partition: seeding.Partition, codes: np.ndarray, first: int, n: int) -> np.ndarray:
        calls.append(n)
        return real(lib, partition, codes, first, n)

    monkeypatch.setattr(seeding, "seeds_for", counted)
    assert index.rebuild(store, batch_size=700) == 5000  # pages of 700, linked as one seeded batch
    assert calls == [5000] and index._graph.expansion_add_seeded == 40
    assert index.count() == 5000 and all(index.search(data[row], 1)[0].logo_id == row for row in range(0, 5000, 250))


@pytest.mark.parametrize("raw", ["-1", "-128"])
def test_a_negative_seeded_build_beam_is_refused_at_start(raw: str) -> None:
    with pytest.raises(ConfigError, match="LOGO_ANN_INDEX_EXPANSION_ADD_SEEDED=.*at least 0"):
        load_settings({"LOGO_ANN_INDEX_EXPANSION_ADD_SEEDED": raw})
