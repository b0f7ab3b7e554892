"""Contract tests both embedded indexes must pass (``PackedIndex`` and ``UsearchIndex`` run the same ones).

A test module subclasses ``IndexContract`` and provides two fixtures: ``open_index`` (a factory
``(folder, dim) -> index`` opening the index under test on a folder, with the same settings each
time) and ``same_vector`` (whether a vector read back is the one stored, within the error of the
engine's codes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.index_support import FakeStore, unit_rows

OpenIndex = Callable[[Path, int], Any]
SameVector = Callable[[np.ndarray, np.ndarray], bool]


class IndexContract:
    def test_upsert_replaces_and_delete_removes(
        self, tmp_path: Path, open_index: OpenIndex, same_vector: SameVector
    ) -> None:
        rng = np.random.default_rng(3)
        data = unit_rows(rng, 300, 32)
        index = open_index(tmp_path, 32)
        index.upsert(range(1, 301), data)
        replacement = unit_rows(rng, 1, 32)
        index.upsert([5], replacement)
        assert index.count() == 300
        assert same_vector(index.get_vectors([5])[5], replacement[0])
        assert index.search(replacement[0], 1)[0].logo_id == 5
        index.delete([5, 6, 9999])
        assert index.count() == 298 and {5, 6}.isdisjoint(index.ids())
        assert 5 not in {n.logo_id for n in index.search(replacement[0], 50)}
        assert set(index.get_vectors([5, 7])) == {7}

    def test_flush_and_reopen_round_trip(self, tmp_path: Path, open_index: OpenIndex, same_vector: SameVector) -> None:
        data = unit_rows(np.random.default_rng(4), 500, 32, clusters=10)
        index = open_index(tmp_path, 32)
        index.upsert(range(1, 501), data)
        index.delete([10])
        index.set_applied_seq(1234)
        index.flush()
        again = open_index(tmp_path, 32)
        assert again.count() == 499 and again.applied_seq == 1234 and again.ids() == set(range(1, 501)) - {10}
        assert same_vector(again.get_vectors([1])[1], data[0])
        assert again.search(data[0], 10, exclude=1) == index.search(data[0], 10, exclude=1)
        again.upsert([501], data[:1])  # a reloaded index grows again
        assert again.search(data[0], 2)[0].logo_id in {1, 501} and again.count() == 500

    def test_catch_up_applies_upserts_and_deletes(
        self, tmp_path: Path, open_index: OpenIndex, same_vector: SameVector
    ) -> None:
        rng = np.random.default_rng(8)
        store = FakeStore()
        for logo_id, vector in enumerate(unit_rows(rng, 50, 16), start=1):
            store.put(logo_id, vector)
        index = open_index(tmp_path, 16)
        assert index.catch_up(store) == 50 and index.applied_seq == 50
        fresh = unit_rows(rng, 3, 16)
        store.put(51, fresh[0])
        store.put(2, fresh[1])  # a changed vector
        store.remove(3)
        store.put(52, fresh[2])
        store.remove(52)  # added then removed within one batch
        assert index.catch_up(store, batch_size=2) == 5 and index.applied_seq == store.last_change_seq()
        assert index.ids() == set(store.embeddings)
        assert same_vector(index.get_vectors([2])[2], fresh[1])
        assert index.catch_up(store) == 0

    def test_reader_notices_another_instance_save(self, tmp_path: Path, open_index: OpenIndex) -> None:
        data = unit_rows(np.random.default_rng(9), 60, 16)
        writer = open_index(tmp_path, 16)
        writer.upsert(range(1, 31), data[:30])
        writer.flush()
        reader = open_index(tmp_path, 16)
        assert reader.count() == 30 and reader.reload_if_changed() is False
        writer.upsert(range(31, 61), data[30:])
        writer.flush()
        assert reader.reload_if_changed() is True
        assert reader.count() == 60 and reader.search(data[45], 1)[0].logo_id == 46

    def test_an_empty_index_answers_with_nothing(self, tmp_path: Path, open_index: OpenIndex) -> None:
        index = open_index(tmp_path, 16)
        query = unit_rows(np.random.default_rng(36), 1, 16)[0]
        assert index.search(query, 10) == [] and index.count() == 0
        index.upsert([7], query[None, :])
        index.delete([7])
        assert index.search(query, 10) == [] and index.count() == 0 and index.get_vectors([7]) == {}
