"""UsearchIndex: recall against exact search, persistence, crash safety, catching up from the store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from common.embedded_index.usearch_index import UsearchIndex
from tests.index_contract import IndexContract, OpenIndex, SameVector
from tests.index_support import FakeStore, unit_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clustered() -> np.ndarray:
    return unit_rows(np.random.default_rng(7), 20_000, 128, clusters=300)


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory, clustered: np.ndarray) -> UsearchIndex:
    index = UsearchIndex(tmp_path_factory.mktemp("big"), 128, dtype="i8", rescore=True)
    for start in range(0, len(clustered), 5_000):
        index.upsert(range(start + 1, start + 5_001), clustered[start : start + 5_000])
    return index


def same_vector(found: np.ndarray, original: np.ndarray, rescore: bool) -> bool:
    """Re-scoring keeps the float32 vector itself; int8 codes decode to within 2 % of it (the
    rounding error; usearch's plain cast is about 5 % off at 512 dimensions)."""
    if rescore:
        return bool(np.array_equal(found, original))
    return bool(np.linalg.norm(found - original) < 0.02)


def exact_top(data: np.ndarray, query_row: int, k: int) -> list[int]:
    """Brute-force neighbours of row ``query_row`` (ids are row + 1), the row itself excluded."""
    sims = data @ data[query_row]
    sims[query_row] = -np.inf
    return [int(i) + 1 for i in np.argsort(-sims, kind="stable")[:k]]


def recall_at_10(index: UsearchIndex, data: np.ndarray, seed: int, queries: int = 200) -> float:
    """Mean recall@10 of stored rows used as queries (ids are row + 1), each excluding itself."""
    rows = np.random.default_rng(seed).choice(len(data), queries, replace=False)
    hits = 0
    for row in rows:
        found = index.search(data[row], 10, exclude=int(row) + 1)
        hits += len({n.logo_id for n in found} & set(exact_top(data, int(row), 10)))
    return hits / (10 * len(rows))


def test_int8_with_rescoring_reaches_exact_recall(big_index: UsearchIndex, clustered: np.ndarray) -> None:
    assert recall_at_10(big_index, clustered, seed=1) >= 0.99


def test_distances_are_robotoff_distances_in_ascending_order(big_index: UsearchIndex, clustered: np.ndarray) -> None:
    found = big_index.search(clustered[42], 20, exclude=43)
    assert 43 not in {n.logo_id for n in found} and len(found) == 20
    expected = [(1.0 - float(clustered[n.logo_id - 1] @ clustered[42])) / 2.0 for n in found]
    assert [n.distance for n in found] == pytest.approx(expected, abs=1e-6)
    assert [n.distance for n in found] == sorted(n.distance for n in found)


def test_search_without_exclude_finds_the_vector_itself_first(big_index: UsearchIndex, clustered: np.ndarray) -> None:
    found = big_index.search(clustered[99], 5)
    assert found[0].logo_id == 100 and found[0].distance == pytest.approx(0.0, abs=1e-6)


class TestUsearchIndexContract(IndexContract):
    @pytest.fixture(params=[True, False], ids=["rescore", "codes"])
    def rescore(self, request: pytest.FixtureRequest) -> bool:
        return bool(request.param)

    @pytest.fixture
    def open_index(self, rescore: bool) -> OpenIndex:
        return lambda folder, dim: UsearchIndex(folder, dim, rescore=rescore)

    @pytest.fixture
    def same_vector(self, rescore: bool) -> SameVector:
        return lambda found, original: same_vector(found, original, rescore)


def test_interrupted_save_leaves_the_committed_index_intact(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(5), 200, 16)
    index = UsearchIndex(tmp_path, 16, rescore=True)  # with the float32 vectors file, torn below
    index.upsert(range(1, 201), data)
    index.flush()
    # a save that died mid-way: its temporary files are there, meta.json was never replaced
    (tmp_path / "index-2.usearch.tmp").write_bytes(b"\x00" * 100)
    (tmp_path / "meta.json.tmp").write_text('{"generation": 2, "index_fi')
    with open(next(tmp_path.glob("vectors-*.f32")), "ab") as handle:
        handle.write(b"\x01" * 10)  # a torn append
    again = UsearchIndex(tmp_path, 16, rescore=True)
    assert again.count() == 200 and np.array_equal(again.get_vectors([7])[7], data[6])
    again.upsert([201], data[:1])
    again.flush()
    assert not list(tmp_path.glob("*.tmp"))
    assert UsearchIndex(tmp_path, 16, rescore=True).get_vectors([201, 7]).keys() == {201, 7}


@pytest.mark.parametrize("damage", ["graph", "meta", "rows"])
def test_corrupt_save_starts_empty_and_rebuilds(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(6)
    store = FakeStore()
    for logo_id, vector in enumerate(unit_rows(rng, 120, 16), start=1):
        store.put(logo_id, vector)
    index = UsearchIndex(tmp_path, 16, rescore=True)  # writes every file, the row map included
    index.catch_up(store)
    index.flush()
    meta = json.loads((tmp_path / "meta.json").read_text())
    if damage == "graph":
        path = tmp_path / meta["index_file"]
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "meta":
        (tmp_path / "meta.json").write_text('{"format": 1, "dim": 16')
    else:
        (tmp_path / meta["rows_file"]).write_bytes(b"not numpy")
    broken = UsearchIndex(tmp_path, 16, rescore=True)
    assert broken.count() == 0 and broken.applied_seq == 0
    assert "starting empty" in caplog.text
    broken.catch_up(store)
    assert broken.count() == 120 and broken.applied_seq == store.last_change_seq()
    assert broken.search(store.embeddings[3], 1)[0].logo_id == 3


def test_reopening_with_other_settings_starts_empty(tmp_path: Path) -> None:
    index = UsearchIndex(tmp_path, 16)
    index.upsert([1], unit_rows(np.random.default_rng(10), 1, 16))
    index.flush()
    assert UsearchIndex(tmp_path, 32).count() == 0
    assert UsearchIndex(tmp_path, 16, dtype="f16").count() == 0


def test_float32_graph_without_rescoring(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(11), 100, 16)
    index = UsearchIndex(tmp_path, 16, dtype="f32", rescore=False)
    index.upsert(range(1, 101), data)
    index.flush()
    again = UsearchIndex(tmp_path, 16, dtype="f32", rescore=False)
    assert np.allclose(again.get_vectors([4])[4], data[3], atol=1e-6)
    assert [n.logo_id for n in again.search(data[0], 5, exclude=1)] == exact_top(data, 0, 5)


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pathlib import Path
    from common.embedded_index.usearch_index import UsearchIndex
    directory, seed, first = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((400, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = UsearchIndex(directory, 16, rescore=True)
    for step in range(8):
        index.upsert(range(first + 50 * step, first + 50 * (step + 1)), data[50 * step : 50 * (step + 1)])
        index.flush()
    """
)


def test_two_processes_flushing_never_corrupt_the_index(tmp_path: Path) -> None:
    runs = [(1, 1), (2, 10_001)]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(seed), str(first)], cwd=ROOT)
        for seed, first in runs
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    index = UsearchIndex(tmp_path, 16, rescore=True)  # loads the last committed generation; it must be whole
    ids = index.ids()
    assert index.count() == len(ids) > 0
    stored = index.get_vectors(sorted(ids))
    for seed, first in runs:
        rng = np.random.default_rng(seed)
        expected = rng.standard_normal((400, 16)).astype(np.float32)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        mine = sorted(i for i in ids if first <= i < first + 400)
        # a writer saw the other's saves only in whole batches of 50, and its own state is complete
        assert len(mine) % 50 == 0 and mine == list(range(first, first + len(mine)))
        assert all(np.array_equal(stored[i], expected[i - first]) for i in mine)
    assert any(len([i for i in ids if first <= i < first + 400]) == 400 for _, first in runs)
    for logo_id in list(ids)[:20]:
        assert index.search(stored[logo_id], 1)[0].logo_id == logo_id


def test_int8_codes_alone_reach_high_recall(tmp_path: Path) -> None:
    """Without re-scoring the int8 codes must rank like the float vectors (here usearch's plain
    cast to int8 reaches 0.86, the codes 0.985, float32 vectors 0.999)."""
    data = unit_rows(np.random.default_rng(12), 20_000, 512, clusters=300, spread=0.6)
    index = UsearchIndex(tmp_path, 512, dtype="i8", rescore=False, expansion_search=128)
    index.upsert(range(1, len(data) + 1), data)
    assert recall_at_10(index, data, seed=2) >= 0.97
    vector = index.get_vectors([5])[5]
    assert np.abs(vector - data[4]).max() < 2e-3  # decoded codes, within the codec's error
    found = index.search(data[4], 3, exclude=5)
    expected = [(1.0 - float(data[n.logo_id - 1] @ data[4])) / 2.0 for n in found]
    assert [n.distance for n in found] == pytest.approx(expected, abs=2e-3)


def test_an_index_saved_with_another_codec_is_rebuilt(tmp_path: Path) -> None:
    data = unit_rows(np.random.default_rng(13), 20, 16)
    index = UsearchIndex(tmp_path, 16)
    index.upsert(range(1, 21), data)
    index.flush()
    assert UsearchIndex(tmp_path, 16).count() == 20
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "codec": None, "format": 1}))
    assert UsearchIndex(tmp_path, 16).count() == 0  # the old cast's codes are not mixed with new ones


@pytest.mark.parametrize("size", [1, 11, 31, 32, 101, 400])
def test_ranking_with_numpy_is_the_plain_python_ranking(size: int) -> None:
    from common.embedded_index._index_rows import ranked, ranked_few

    rng = np.random.default_rng(size)
    keys = rng.permutation(10 * size + 10)[:size].astype(np.int64)
    cosines = rng.uniform(-1.0, 1.0, size) ** 3
    cosines[: size // 3] = cosines[0]  # ties: the smaller id first
    cosines[-1:] = 1.0 + 1e-7  # a cosine past 1 (rounding): distance 0, as cosine_to_distance clips it
    for k, exclude in [(size, None), (max(1, size - 1), int(keys[size // 2])), (max(1, size // 2), -1)]:
        found = ranked(keys, cosines, k, exclude)
        assert found == ranked_few(keys.tolist(), cosines.tolist(), k, exclude)
        assert all(type(n.logo_id) is int and type(n.distance) is float for n in found)
        assert exclude not in [n.logo_id for n in found] and len(found) == min(k, size - (exclude in keys))


def test_small_graphs_built_by_many_threads_still_find_every_neighbour(tmp_path: Path) -> None:
    # Built by several threads at once, about 1 graph of 100 nodes in 50 used to miss one of the
    # query's true 5 nearest neighbours; 200 builds must all find them.
    data = unit_rows(np.random.default_rng(11), 100, 16)
    missed = 0
    for build in range(200):
        index = UsearchIndex(tmp_path / str(build), 16, dtype="f32", threads=0)
        index.upsert(range(1, 101), data)
        missed += [n.logo_id for n in index.search(data[0], 5, exclude=1)] != exact_top(data, 0, 5)
        index.close()
    assert missed == 0
