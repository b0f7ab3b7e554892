"""PackedIndex and its graph: recall against exact search, packed links, persistence, catching up."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.embedded_index import _packed_hnsw as ph
from common.embedded_index._index_rows import ranked
from common.embedded_index._int8_codec import Int8Codec
from common.embedded_index.packed_index import PackedIndex
from common.errors import InternalError
from tests.index_contract import IndexContract, OpenIndex, SameVector
from tests.index_support import FakeStore, unit_rows

NONE = np.iinfo(np.uint32).max


def exact_ids(data: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-(data @ query), kind="stable")[:k]]


@pytest.fixture(scope="module")
def clustered() -> np.ndarray:
    return unit_rows(np.random.default_rng(21), 20_000, 128, clusters=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, clustered: np.ndarray) -> PackedIndex:
    index = PackedIndex(tmp_path_factory.mktemp("packed"), 128, expansion_search=64)
    for start in range(0, len(clustered), 5_000):
        index.upsert(range(start + 1, start + 5_001), clustered[start : start + 5_000])
    return index


def test_codes_alone_reach_high_recall(built: PackedIndex, clustered: np.ndarray) -> None:
    rng = np.random.default_rng(22)
    hits = 0
    rows = rng.choice(len(clustered), 200, replace=False)
    for row in rows:
        truth = {i + 1 for i in exact_ids(clustered, clustered[row], 10)}
        hits += len(truth & {n.logo_id for n in built.search(clustered[row], 10)})
    assert hits / (10 * len(rows)) >= 0.97


def test_distances_are_robotoff_distances_in_ascending_order(built: PackedIndex, clustered: np.ndarray) -> None:
    found = built.search(clustered[17], 20)
    assert found[0].logo_id == 18 and found[0].distance < 1e-3  # the vector itself: cosine 1
    distances = [n.distance for n in found]
    assert distances == sorted(distances) and all(0.0 <= d <= 1.0 for d in distances)
    for n in found:  # (1 - cosine) / 2 of the true vectors, within the codes' error
        true = (1.0 - float(clustered[n.logo_id - 1] @ clustered[17])) / 2.0
        assert abs(n.distance - true) < 2e-3
    assert 18 not in {n.logo_id for n in built.search(clustered[17], 20, exclude=18)}


def test_every_stored_vector_finds_itself(tmp_path: Path) -> None:
    # small graphs of every size up to past the first upper node: nothing left unreachable
    rng = np.random.default_rng(23)
    for n in (1, 2, 3, 17, 64, 200):
        data = unit_rows(rng, n, 24)
        index = PackedIndex(tmp_path / str(n), 24, connectivity=4)
        index.upsert(range(n), data)
        assert all(index.search(data[i], 1)[0].logo_id == i for i in range(n))


class TestPackedIndexContract(IndexContract):
    @pytest.fixture
    def open_index(self) -> OpenIndex:
        return lambda folder, dim: PackedIndex(folder, dim)

    @pytest.fixture
    def same_vector(self) -> SameVector:
        return lambda found, original: float(found @ original) > 0.999


def test_a_replaced_vector_stays_in_the_graph_as_removed(tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    index = PackedIndex(tmp_path, 32)
    index.upsert(range(1, 301), unit_rows(rng, 300, 32))
    index.upsert([5], unit_rows(rng, 1, 32))
    assert index.count() == 300 and index.health()["removed"] == 1


def test_repeating_an_upsert_changes_nothing(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(25), 100, 32)
    index = PackedIndex(tmp_path, 32)
    index.upsert(range(100), data)
    index.flush()
    before = index.health()
    index.upsert(range(100), data)
    after = index.health()
    assert after["removed"] == 0 and after["count"] == 100 and after["unsaved_changes"] is False
    assert after["resident_bytes"] == before["resident_bytes"]


def test_links_are_packed_in_as_few_bits_as_the_count_needs() -> None:
    codes = Int8Codec(16).encode(unit_rows(np.random.default_rng(26), 5_000, 16))
    graph = ph.PackedGraph(16, m=6, expansion_add=32)
    graph.add(np.arange(1000), codes[:1000])
    assert graph.state.bits == ph.bits_for(1024) == 11  # first capacity: 1,024 slots
    small = graph.links()
    graph.state = graph._grown(graph.state, 5_000, 0, 0)  # room for 5,000: 13-bit links, rows repacked
    assert graph.state.bits == 13
    assert graph.state.links0.nbytes == graph.state.capacity * ph.row_bytes(12, 13) + ph.PAD
    assert np.array_equal(graph.links(), small)  # the same lists, list ends included
    graph.add(np.arange(1000, 5000), codes[1000:])
    links = graph.links()
    assert links.shape == (5000, 12)
    valid = links[links != NONE]
    assert valid.max() < 5000 and (links[:, 0] != NONE).all()  # every node has a neighbour
    for row in range(5000):  # lists are compact (the end marker only after the last link) and simple
        listed = links[row][links[row] != NONE]
        assert (links[row][: len(listed)] != NONE).all()
        assert len(set(listed.tolist())) == len(listed) and row not in listed


def test_a_new_node_keeps_m_links_where_the_heuristic_alone_keeps_two() -> None:
    # points along one arc: HNSW's heuristic keeps only the nearest neighbour on each side (any
    # farther one is nearer to those than to the new point); the pruned nearest fill the rest
    angles = np.random.default_rng(37).permutation(np.linspace(0.0, 1.5, 100))
    rows = np.zeros((100, 16), np.float32)
    rows[:, 0], rows[:, 1] = np.cos(angles), np.sin(angles)
    graph = ph.PackedGraph(16, m=6, expansion_add=64)
    graph.add(np.arange(100), Int8Codec(16).encode(rows))
    links = graph.links()
    last = links[-1][links[-1] != NONE]  # the last node's list is exactly what its insert chose
    assert len(last) == 6
    order = np.argsort(np.abs(angles[:-1] - angles[-1]))
    assert set(last.tolist()) == set(order[:6].tolist())  # its 6 nearest along the arc


def test_every_kernel_computes_the_same_neighbours() -> None:
    rng = np.random.default_rng(27)
    codec = Int8Codec(100)  # 100: not a multiple of the vector widths, so the scalar tail runs too
    codes = codec.encode(unit_rows(rng, 2_000, 100, clusters=20))
    queries = codec.encode(unit_rows(rng, 50, 100, clusters=20))
    best = ph.kernel(-1)
    results = {}
    try:
        for wanted in (0, 1, -1):
            name = ph.kernel(wanted)
            graph = ph.PackedGraph(100, m=8, expansion_add=64)
            graph.add(np.arange(2_000), codes)
            results[name] = (graph.links(), *graph.search(queries, 10, 40))
    finally:
        ph.kernel(-1)
    assert ph.kernel() == best and len(results) >= 2  # scalar and at least one vector kernel here
    reference = results.pop("scalar")
    for other in results.values():
        for ours, theirs in zip(reference, other, strict=True):
            assert np.array_equal(ours, theirs)  # integer dot products: bit for bit the same
    sims = reference[2][:, 0]
    slots = reference[1][:, 0]
    for q in range(len(queries)):  # and the scalar kernel's cosine is numpy's
        a, b = queries[q].astype(np.float64), codes[slots[q]].astype(np.float64)
        assert sims[q] == pytest.approx(a @ b / np.linalg.norm(b), rel=1e-5)


@pytest.mark.parametrize("dim", [512, 100, 9, 7, 1])  # 9, 7, 1: a tail past the 8-wide steps, or only one
def test_a_served_query_is_coded_as_the_codec_codes_it(dim: int) -> None:
    rng = np.random.default_rng(dim)
    rows = [rng.standard_normal(dim).astype(np.float32) for _ in range(20)]
    halves = np.zeros(dim, np.float32)  # scale exactly 1 (peak 127): rounding of halves, to even
    halves[: min(dim, 6)] = [127.0, 0.5, 1.5, -2.5, 2.4999, -127.0][: min(dim, 6)]
    rows += [halves, np.zeros(dim, np.float32)]
    for bad in (np.nan, np.inf, -np.inf):
        row = rng.standard_normal(dim).astype(np.float32)
        row[dim // 2] = bad
        rows.append(row)
    codec, lib, best = Int8Codec(dim), ph.library(), ph.kernel(-1)
    try:
        for wanted in (0, 1, -1):
            ph.kernel(wanted)
            for row in rows:
                code = np.empty(dim, np.int8)
                lib.ph_query_code(row, dim, code)
                np.testing.assert_array_equal(code, codec.code_of_turned(row))
    finally:
        ph.kernel(-1)
    assert ph.kernel() == best
    if dim >= 6:  # numpy's rint, checked by hand: halves go to the even neighbour
        assert codec.code_of_turned(halves)[:6].tolist() == [127, 0, 2, -2, 2, -127]
    assert not codec.code_of_turned(rows[-1]).any()  # a query that is not finite: the zero code


@pytest.mark.parametrize(("k", "exclude"), [(10, None), (10, 7), (10, 10**9), (1, None), (0, 3), (400, None)])
def test_a_served_query_finds_what_the_steps_one_by_one_find(k: int, exclude: int | None) -> None:
    # ph_query (code, search, re-rank, keys, ranking, distances in one call) against the same steps
    # taken from Python, under every kernel; 400: more than the 300 vectors the graph holds
    rng = np.random.default_rng(29)
    codec = Int8Codec(100)
    data = unit_rows(rng, 300, 100, clusters=6)
    data[-40:] = data[:40]  # the same vector under two keys: equal cosines, ranked by key
    codes, residuals = codec.encode_refined(data)
    graph = ph.PackedGraph(100, m=8, expansion_add=64)
    graph.add(np.arange(300) * 3 + 1, codes, residuals)  # keys unlike slots
    graph.remove(np.array([5, 9]))
    raw = data[:12] + 0.05 * unit_rows(rng, 12, 100)
    turned = codec.rotate(raw)
    best = ph.kernel(-1)
    try:
        for wanted in (0, 1, -1):
            ph.kernel(wanted)
            for row, vector in zip(turned, raw, strict=True):
                keys, distances = graph.query(row, k, 40, 16, exclude)
                # the raw query turned in the engine, as the index serves it: the same to the bit
                assert graph.query(vector, k, 40, 16, exclude, signs=codec.signs) == (keys, distances)
                more = k + (exclude is not None)
                step_keys, cosines = graph.search_keys(codec.code_of_turned(row), more, 40, row, max(16, more))
                steps = ranked(step_keys, cosines, k, exclude)
                assert keys == [n.logo_id for n in steps] and distances == [n.distance for n in steps]
                assert len(keys) == min(k, 298) and exclude not in keys and not {16, 28} & set(keys)
    finally:
        ph.kernel(-1)
    assert ph.kernel() == best


@pytest.mark.parametrize("dim", [512, 100, 64, 63, 1])
def test_every_kernel_scores_any_int8_code_exactly(dim: int) -> None:
    # the whole int8 range, -128 included (the codec never makes it, a caller's codes may hold it),
    # at widths that fill the vector steps, leave a tail, or are all tail
    rng = np.random.default_rng(dim)
    codes = rng.integers(-128, 128, (300, dim), dtype=np.int8)
    codes[0], codes[1], codes[2] = -128, 127, np.where(np.arange(dim) % 2, -128, 127)
    queries = rng.integers(-128, 128, (20, dim), dtype=np.int8)
    queries[0], queries[1] = -128, 127
    wide_codes, wide_queries = codes.astype(np.float64), queries.astype(np.float64)
    best = ph.kernel(-1)
    results = {}
    try:
        for wanted in (0, 1, -1):
            name = ph.kernel(wanted)
            graph = ph.PackedGraph(dim, m=8, expansion_add=64)
            graph.add(np.arange(300), codes)
            results[name] = graph.search(queries, 10, 300)
    finally:
        ph.kernel(-1)
    assert ph.kernel() == best and len(results) >= 2  # scalar and at least one vector kernel here
    for slots, sims in results.values():
        found = slots[:, 0] != NONE
        assert found.all()
        for q, (row, got) in enumerate(zip(slots, sims, strict=True)):
            picked = wide_codes[row]
            expected = picked @ wide_queries[q] / np.linalg.norm(picked, axis=1)
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-4)
    reference = results.pop("scalar")
    for other in results.values():
        assert all(np.array_equal(ours, theirs) for ours, theirs in zip(reference, other, strict=True))


def test_searches_run_while_another_thread_adds(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(28), 6_000, 32, clusters=30)
    index = PackedIndex(tmp_path, 32)
    index.upsert(range(1000), data[:1000])
    errors: list[BaseException] = []
    done = threading.Event()

    def search() -> None:
        try:
            while not done.is_set():
                for row in range(0, 1000, 50):
                    found = index.search(data[row], 5)
                    assert found and found[0].logo_id == row and all(0 <= n.logo_id < 6000 for n in found)
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    readers = [threading.Thread(target=search) for _ in range(2)]
    for reader in readers:
        reader.start()
    for start in range(1000, 6000, 250):  # grows the arrays (and the link width) meanwhile
        index.upsert(range(start, start + 250), data[start : start + 250])
    done.set()
    for reader in readers:
        reader.join()
    assert not errors and index.count() == 6000
    assert all(index.search(data[row], 1)[0].logo_id == row for row in range(0, 6000, 97))


def test_interrupted_save_leaves_the_committed_index_intact(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(30), 200, 16)
    index = PackedIndex(tmp_path, 16)
    index.upsert(range(1, 201), data)
    index.flush()
    (tmp_path / "index-2.packed.tmp").write_bytes(b"\x00" * 100)
    (tmp_path / "meta.json.tmp").write_text('{"generation": 2, "index_fi')
    again = PackedIndex(tmp_path, 16)
    assert again.count() == 200
    again.upsert([201], data[:1])
    again.flush()
    assert not list(tmp_path.glob("*.tmp"))
    assert PackedIndex(tmp_path, 16).get_vectors([201, 7]).keys() == {201, 7}


@pytest.mark.parametrize("damage", ["bytes", "meta", "links"])
def test_corrupt_save_starts_empty_and_rebuilds(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    for logo_id, vector in enumerate(unit_rows(np.random.default_rng(31), 120, 16), start=1):
        store.put(logo_id, vector)
    index = PackedIndex(tmp_path, 16)
    index.catch_up(store)
    index.flush()
    meta = json.loads((tmp_path / "meta.json").read_text())
    path = tmp_path / meta["index_file"]
    if damage == "bytes":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "meta":
        (tmp_path / "meta.json").write_text('{"format": 1, "dim": 16')
    else:  # a consistent file (size and checksum recorded) whose links point past the last vector
        with np.load(path) as saved:
            arrays = {name: saved[name] for name in saved.files}
        arrays["links0"] = np.full_like(arrays["links0"], 0x7F)
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        from common.embedded_index import _index_files as files

        meta.update(index_bytes=path.stat().st_size, index_crc32=files.crc32_of(path))
        (tmp_path / "meta.json").write_text(json.dumps(meta))
    broken = PackedIndex(tmp_path, 16)
    assert broken.count() == 0 and broken.applied_seq == 0
    assert "starting empty" in caplog.text
    broken.catch_up(store)
    assert broken.count() == 120 and broken.applied_seq == store.last_change_seq()
    assert broken.search(store.embeddings[3], 1)[0].logo_id == 3


def test_reopening_with_another_graph_shape_starts_empty(tmp_path: Path) -> None:
    index = PackedIndex(tmp_path, 16)
    index.upsert([1], unit_rows(np.random.default_rng(34), 1, 16))
    index.flush()
    assert PackedIndex(tmp_path, 16, expansion_search=300).count() == 1  # a search setting: same graph
    assert PackedIndex(tmp_path, 16, expansion_add=64).count() == 1  # and the next inserts' beam
    assert PackedIndex(tmp_path, 32).count() == 0
    assert PackedIndex(tmp_path, 16, connectivity=8).count() == 0


def test_flush_rebuilds_the_graph_when_removed_vectors_outnumber_live_ones(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(35), 3_000, 16, clusters=20)
    index = PackedIndex(tmp_path, 16)
    index.upsert(range(3_000), data)
    index.delete(range(0, 3_000, 3))
    index.delete(range(1, 3_000, 3))  # 2,000 removed, 1,000 live
    assert index.health()["removed"] == 2_000
    index.flush()
    health = PackedIndex(tmp_path, 16).health()
    assert health["removed"] == 0 and health["count"] == 1_000
    assert PackedIndex(tmp_path, 16).search(data[2], 1)[0].logo_id == 2


@pytest.mark.parametrize(("rows", "k"), [(70, 20), (5, 40), (1, 3)])  # 70: several threads' shares
def test_a_batch_search_finds_what_each_search_finds(
    built: PackedIndex, clustered: np.ndarray, rows: int, k: int
) -> None:
    picked = np.random.default_rng(23).choice(len(clustered), rows, replace=False)
    exclude = [int(row) + 1 for row in picked]  # each query a stored logo, left out of its results
    exclude[0] = 10**9  # and one naming no logo: nothing left out
    found = built.search_many(clustered[picked], k, exclude)
    assert len(found) == rows
    for row, skip, (ids, distances) in zip(picked, exclude, found, strict=True):
        one = built.search(clustered[row], k, exclude=skip)
        assert ids.dtype == np.int64 and distances.dtype == np.float64
        assert ids.tolist() == [n.logo_id for n in one] and distances.tolist() == [n.distance for n in one]
        assert skip not in ids.tolist() and len(ids) == k
    assert int(picked[0]) + 1 == found[0][0][0]  # not excluded: the vector itself first


def test_a_batch_search_of_nothing_or_in_an_empty_index(built: PackedIndex, tmp_path: Path) -> None:
    assert built.search_many(np.zeros((0, 128), np.float32), 10, []) == []
    empty = PackedIndex(tmp_path, 128).search_many(np.ones((2, 128), np.float32), 10, [1, 2])
    assert [(len(i), len(d)) for i, d in empty] == [(0, 0), (0, 0)]
    with pytest.raises(InternalError):
        built.search_many(np.ones((2, 64), np.float32), 10, [1, 2])


def test_a_reserved_graph_grows_nothing_and_links_the_same() -> None:
    """``reserve`` allocates once: the adds after it write into the same arrays (a growth would copy
    them, holding old and new at once), and the graph is the same link for link as one that grew."""
    data = unit_rows(np.random.default_rng(31), 6_000, 32)
    codes, residuals = Int8Codec(32).encode_refined(data)
    grown = ph.PackedGraph(32, m=8, expansion_add=32, threads=1)
    reserved = ph.PackedGraph(32, m=8, expansion_add=32, threads=1)
    reserved.reserve(6_000)
    arrays = reserved.state.codes.ctypes.data, reserved.state.links0.ctypes.data
    for start in range(0, 6_000, 1_000):
        span = slice(start, start + 1_000)
        grown.add(np.arange(start, start + 1_000), codes[span], residuals[span])
        reserved.add(np.arange(start, start + 1_000), codes[span], residuals[span])
    assert (reserved.state.codes.ctypes.data, reserved.state.links0.ctypes.data) == arrays
    assert reserved.state.capacity == 6_000 and grown.state.capacity > 6_000
    assert np.array_equal(reserved.links(), grown.links())


def test_a_rebuild_reserves_its_size_and_finds_what_upserts_find(tmp_path: Path, clustered: np.ndarray) -> None:
    store = FakeStore()
    for i, vector in enumerate(clustered[:7_000], start=1):
        store.put(i, vector)
    rebuilt = PackedIndex(tmp_path / "rebuilt", 128, expansion_search=64)
    assert rebuilt.rebuild(store, batch_size=2_000) == 7_000
    assert rebuilt._graph.state.capacity == 7_000  # one allocation, no growth
    upserted = PackedIndex(tmp_path / "upserted", 128, expansion_search=64)
    for start in range(0, 7_000, 2_000):
        upserted.upsert(range(start + 1, min(start + 2_001, 7_001)), clustered[start : min(start + 2_000, 7_000)])
    for row in (0, 1_234, 6_999):
        assert rebuilt.search(clustered[row], 10) == upserted.search(clustered[row], 10)
    assert rebuilt.ids() == set(range(1, 7_001))


@pytest.mark.parametrize(
    ("growth", "at_450", "at_400"),
    [
        ("0.5", 22, 20),  # 10 x sqrt(4.5) = 21.2, rounded up; 10 x sqrt(4) = 20
        ("1", 45, 40),  # in proportion to the collection
        ("0", 10, 10),  # fixed
    ],
)
def test_the_beam_widens_with_the_collection_to_the_growth_set(
    tmp_path: Path, growth: str, at_450: int, at_400: int
) -> None:
    from common.adapters.build import build_index
    from common.settings import load_settings

    env = {
        "LOGO_ANN_INDEX_EXPANSION_SEARCH": "10",
        "LOGO_ANN_INDEX_EXPANSION_SEARCH_AT": "100",
        "LOGO_ANN_INDEX_EXPANSION_SEARCH_GROWTH": growth,
    }
    index = build_index(load_settings(env, home=tmp_path, index="packed"), 16)
    assert isinstance(index, PackedIndex) and index.beam() == 10  # empty: the beam as set
    data = unit_rows(np.random.default_rng(31), 450, 16)
    index.upsert(range(100), data[:100])
    assert index.beam() == 10 and index.beam(wanted=25) == 25  # at the size it is set for
    index.upsert(range(100, 450), data[100:])
    assert index.beam() == at_450
    index.delete(range(50))
    assert index.beam() == at_400 and index.health()["expansion_search_now"] == at_400  # live vectors count: 400
    if growth != "0.5":
        return
    seen: list[int] = []
    query = index._graph.query  # noqa: SLF001

    def spy(vector: np.ndarray, k: int, ef: int, rerank: int, exclude: int | None = None, **options: Any) -> Any:
        seen.append(ef)
        return query(vector, k, ef, rerank, exclude, **options)

    index._graph.query = spy  # type: ignore[method-assign]  # noqa: SLF001
    index.search(data[60], 5)
    index.expansion_search_at = 0  # fixed
    index.search(data[60], 5)
    assert seen == [20, 10]
