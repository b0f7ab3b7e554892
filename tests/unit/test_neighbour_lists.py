"""Every neighbour-list write of a crops message happens in one store transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.bootstrap import Container
from common.errors import NotFoundError
from common.pipeline.neighbours import NeighbourLists
from common.records.logos import NeighbourList
from tests.api_support import api_container, ingest

PAIRS = [((255, 0, 0), (0, 0, 255)), ((250, 10, 0), (0, 255, 0)), ((0, 0, 250), (255, 255, 0)),
         ((240, 20, 10), (10, 10, 240)), ((20, 240, 10), (240, 240, 0))]  # fmt: skip


@pytest.fixture
def container(tmp_path: Path) -> Container:
    built = api_container(tmp_path)
    ingest(built, PAIRS)
    return built


@pytest.fixture
def writes(container: Container) -> Iterator[list[int]]:
    """The write transactions the store runs while the test counts (one entry each)."""
    db: Any = container.store.db  # type: ignore[attr-defined]
    original, seen = db.run, []

    def counting(work: Any, write: bool, one_statement: bool = False) -> Any:
        if write:
            seen.append(1)
        return original(work, write, one_statement)

    db.run = counting
    yield seen
    db.run = original


def test_a_message_writes_all_its_lists_in_one_transaction(container: Container, writes: list[int]) -> None:
    lists = NeighbourLists(container.store, container.index, k=3, candidates=8)
    new = [1, 2]
    vectors = container.store.get_embeddings(new)
    before = container.store.get_neighbours(range(1, 11))
    touched = lists.update_for_new(new, [vectors[i] for i in new])
    assert len(writes) == 1
    after = container.store.get_neighbours(range(1, 11))
    for logo_id in new:
        expected = container.index.search(vectors[logo_id], 3, exclude=logo_id)
        assert after[logo_id]["logo_ids"] == [n.logo_id for n in expected]
    assert touched == {i for i in after if i not in new and after[i]["logo_ids"] != before[i]["logo_ids"]}


def test_recompute_writes_one_transaction(container: Container, writes: list[int]) -> None:
    assert NeighbourLists(container.store, container.index, k=2, candidates=2).recompute(list(range(1, 11))) == 10
    assert len(writes) == 1


def test_an_unknown_logo_writes_none_of_the_lists(container: Container) -> None:
    before = container.store.get_neighbours([1])[1]
    with pytest.raises(NotFoundError):
        container.store.set_neighbours_many([NeighbourList(1, (3,), (0.25,)), NeighbourList(999, (1,), (0.1,))])
    assert container.store.get_neighbours([1])[1] == before
