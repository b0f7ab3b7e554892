"""The value clusters' reference searches: one batch where the index has one, the same neighbours
one search at a time where it has not, and the shared search threads across a fork."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from common import thread_pools
from common.domain import Neighbour
from common.embedded_index.packed_index import PackedIndex
from common.pipeline.value_cluster import neighbours_of
from common.ports.vector_index import BatchSearch
from tests.index_support import unit_rows


class OneAtATime:
    """The packed index seen through ``search`` alone (as an index without ``search_many``)."""

    def __init__(self, index: PackedIndex) -> None:
        self.index = index

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        return self.index.search(vector, k, exclude)


def test_the_batch_and_one_search_at_a_time_give_the_same_neighbours(tmp_path: Path) -> None:
    rows = unit_rows(np.random.default_rng(5), 3000, 64, clusters=40)
    index = PackedIndex(tmp_path, 64)
    index.upsert(range(1, 3001), rows)
    vectors = {logo_id: rows[logo_id - 1] for logo_id in (7, 1200, 2999, 40, 41)}
    assert isinstance(index, BatchSearch) and not isinstance(OneAtATime(index), BatchSearch)
    batch = neighbours_of(index, vectors, 30)
    each = neighbours_of(OneAtATime(index), vectors, 30)  # type: ignore[arg-type]
    assert len(batch) == len(each) == 5
    for logo_id, (ids, distances), (ids_, distances_) in zip(vectors, batch, each, strict=True):
        assert logo_id not in ids.tolist() and len(ids) == 30
        assert ids.tolist() == ids_.tolist() and distances.tolist() == distances_.tolist()
    assert neighbours_of(index, {}, 30) == []


def _in_child(answers: multiprocessing.queues.Queue[object]) -> None:
    answers.put(len(thread_pools._POOLS))
    answers.put(thread_pools.shared_pool("test-fork", 2).submit(sum, [1, 2]).result())


def test_a_forked_child_starts_its_own_search_threads() -> None:
    assert thread_pools.shared_pool("test-fork", 2).submit(sum, [1, 1]).result() == 2
    assert thread_pools.shared_pool("test-fork", 9) is thread_pools.shared_pool("test-fork", 2)
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_in_child, args=(answers,), daemon=True)
    child.start()
    # the inherited pool has no threads in the child: without the fork hook this would wait forever
    got = [answers.get(timeout=60), answers.get(timeout=60)]
    child.join(60)
    assert got == [0, 3] and child.exitcode == 0
