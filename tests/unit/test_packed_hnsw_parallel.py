"""Parallel inserts of the packed HNSW engine (``ph_insert_parallel``): the graph they build holds
together and finds what a sequential build finds, searches run meanwhile, bad thread counts refused."""

from __future__ import annotations

import ctypes
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from common.embedded_index import _packed_hnsw as ph
from common.embedded_index import _packed_hnsw_binding as binding
from common.embedded_index._int8_codec import Int8Codec
from common.embedded_index.packed_index import PackedIndex
from tests.index_support import unit_rows

DIM = 32
NONE = np.iinfo(np.uint32).max
N = 2 * ph.PARALLEL_FROM  # one batch, large enough to be inserted in parallel


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    # tight clusters inserted cluster by cluster: concurrent inserts meet the same neighbourhoods
    rows = unit_rows(np.random.default_rng(51), N, DIM, clusters=400, spread=0.3)
    return rows[np.argsort(rows[:, 0], kind="stable")]


def recall_at_10(graph: ph.PackedGraph, codes: np.ndarray, data: np.ndarray, rows: np.ndarray) -> float:
    slots, _ = graph.search(codes[rows], 10, 32)
    truth = np.argsort(-(data[rows] @ data.T), axis=1)[:, :10]
    return float(np.mean([len(set(slots[i]) & set(truth[i])) / 10 for i in range(len(rows))]))


def test_a_parallel_build_finds_what_a_sequential_one_finds(data: np.ndarray) -> None:
    codes = Int8Codec(DIM).encode(data)
    rows = np.random.default_rng(52).choice(N, 300, replace=False)
    sequential = ph.PackedGraph(DIM, m=8, expansion_add=64, threads=1)
    sequential.add(np.arange(N), codes)
    parallel = ph.PackedGraph(DIM, m=8, expansion_add=64, threads=4)  # more threads than cores: interleaved
    parallel.add(np.arange(N), codes)
    assert parallel.state.count == N and not np.array_equal(parallel.links(), sequential.links())
    assert parallel._lib.ph_check(ctypes.byref(parallel._struct(parallel.state))) == 0
    links = parallel.links()
    for row in range(N):  # every list compact, simple, without the node itself, and not empty
        listed = links[row][links[row] != NONE]
        assert 1 <= len(listed) and (links[row][: len(listed)] != NONE).all()
        assert len(set(listed.tolist())) == len(listed) and row not in listed and listed.max() < N
    itself = [
        float((g.search(codes[::20], 1, 64)[0][:, 0] == np.arange(0, N, 20)).mean()) for g in (parallel, sequential)
    ]
    assert itself[0] >= 0.98 and itself[0] >= itself[1] - 0.01, itself  # nothing left unreachable
    ours, theirs = recall_at_10(parallel, codes, data, rows), recall_at_10(sequential, codes, data, rows)
    assert ours >= theirs - 0.01 and ours >= 0.95, (ours, theirs)


def test_searches_run_while_a_parallel_build_inserts(tmp_path: Path, data: np.ndarray) -> None:
    index = PackedIndex(tmp_path, DIM, connectivity=8)
    index.upsert(range(1000), data[:1000])
    errors: list[BaseException] = []
    searched = 0
    done = threading.Event()

    def search() -> None:
        nonlocal searched
        try:
            while not done.is_set():
                for row in range(0, 1000, 25):
                    found = index.search(data[row], 5)
                    assert found[0].logo_id == row and all(0 <= n.logo_id < N for n in found)
                    searched += 1
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    reader = threading.Thread(target=search)
    reader.start()
    index.upsert(range(1000, N), data[1000:])  # one batch, on every core, the arrays grown first
    done.set()
    reader.join()
    assert not errors and searched > 0 and index.count() == N
    assert all(index.search(data[row], 1)[0].logo_id == row for row in range(0, N, 97))


@pytest.mark.parametrize("threads", [0, -1, 257])
def test_the_engine_refuses_a_thread_count_outside_its_bounds(data: np.ndarray, threads: int) -> None:
    graph = ph.PackedGraph(DIM, m=8, expansion_add=32)
    graph.add(np.arange(100), Int8Codec(DIM).encode(data[:100]))
    before = graph.links()
    struct = graph._struct(graph.state)
    rc = graph._lib.ph_insert_parallel(
        ctypes.byref(struct), 0, np.zeros(0, np.int32), np.zeros(0, np.uint32), 32, threads, ph.NO_SEEDS, 0
    )
    assert rc == binding.EPARAM and struct.count == 100 and np.array_equal(graph.links(), before)


def test_a_thread_that_searched_and_ended_leaves_no_scratch(data: np.ndarray) -> None:
    """Each thread that searches gets its own scratch (bitset, heaps); it is released when the thread
    ends, whoever started the thread (a server's request threads come and go)."""
    codes = Int8Codec(DIM).encode(data[:2000])
    graph = ph.PackedGraph(DIM, m=8, expansion_add=64, threads=1)
    graph.add(np.arange(2000), codes)
    graph.search(codes[:1], 10, 32)  # this thread's scratch, kept while it lives
    live = graph._lib.ph_scratch_live
    before = live()
    started = threading.Barrier(9)
    finish = threading.Event()

    def search_then_end() -> None:
        graph.search(codes[:3], 10, 32)
        started.wait()
        finish.wait()

    threads = [threading.Thread(target=search_then_end) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait()
    assert live() == before + 8  # each searching thread holds its scratch...
    finish.set()
    for thread in threads:
        thread.join()
    # ...and leaves none behind when it ends. Python's join returns when the thread's Python state is
    # gone, a moment before the OS thread exits and runs its pthread key destructors: wait for them.
    deadline = time.monotonic() + 10
    while live() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live() == before
