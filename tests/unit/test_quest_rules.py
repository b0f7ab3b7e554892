"""The quests' cluster rule, its incremental upkeep against a full rebuild, and the suspect rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.adapters.sql.annotations import SqlAnnotations
from common.adapters.sql.quests import SqlQuests
from common.adapters.sqlite_store import SqliteStore
from common.labels.calibration import Sample
from common.labels.clusters import adjacency, centre, components, keep_ids
from common.labels.suspects import disagreements, suspects
from common.labels.vote import VoteParams
from common.pipeline.quests import Quests
from tests.annotation_contract import label, logos

CUT = 0.05


def test_links_need_a_distance_below_the_cut_and_two_unannotated_logos() -> None:
    lists = {1: [(2, 0.01), (3, 0.05)], 2: [(1, 0.01)], 4: [(5, 0.02)], 6: [(1, 0.0)]}
    links = adjacency(lists, eligible={1, 2, 3, 4, 6}, max_distance=CUT)
    assert links[1] == {2, 6} and links[6] == {1}  # 3 at the cut itself is not linked
    assert links[4] == set()  # 5 is annotated (not eligible): no link through it
    assert links[3] == set()


def test_components_are_transitive_at_least_two_and_largest_first() -> None:
    links = {1: {2}, 2: {1, 3}, 3: {2}, 4: {5}, 5: {4}, 6: set()}
    assert components(links) == [(1, 2, 3), (4, 5)]


def test_an_id_stays_while_most_members_stay() -> None:
    old = {10: {1, 2, 3, 4}, 20: {5, 6}, 30: {7, 8, 9, 11}}
    new = [(1, 2, 3), (5, 6, 12), (7, 8), (9, 11)]  # 10 lost one; 20 grew; 30 split in halves
    drafts = keep_ids(new, old)
    assert [d.id for d in drafts] == [10, 20, None, None]


def test_a_merge_keeps_one_id_the_larger_side() -> None:
    old = {10: {1, 2, 3}, 20: {4, 5}}
    (draft,) = keep_ids([(1, 2, 3, 4, 5)], old)
    assert draft.id == 10


def test_an_id_goes_to_one_part_of_a_split_the_larger() -> None:
    old = {10: {1, 2, 3, 4, 5}}
    drafts = keep_ids([(1, 2), (3, 4, 5)], old)
    assert [d.id for d in drafts] == [None, 10]


def test_the_representative_is_nearest_the_mean_and_the_radius_is_its_farthest_member() -> None:
    vectors = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8]], dtype=np.float32)
    row, radius = centre(vectors)
    assert row == 1
    assert abs(radius - (1 - 0.8) / 2) < 1e-6


def test_incremental_upkeep_matches_a_full_rebuild(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite3")
    notes, rng = SqlAnnotations(store.db), np.random.default_rng(7)
    ids = [i for name in "abcdef" for i in logos(store, f"{name}.jpg", 5)]
    for logo_id in ids:  # a sparse graph: about one link a logo, so many small clusters
        others = rng.choice([i for i in ids if i != logo_id], size=2, replace=False)
        store.set_neighbours(logo_id, [int(i) for i in others], sorted(rng.uniform(0.0, 0.1, 2).tolist()))
    quests = Quests(store, notes, SqlQuests(store.db), CUT)
    quests.rebuild()
    labelled: list[int] = []
    for step in range(12):  # annotate two logos at a time, then reset them one by one
        if step < 5:
            chosen = [int(i) for i in rng.choice([i for i in ids if i not in labelled], size=2, replace=False)]
            labelled += chosen
        else:
            chosen = [labelled.pop(0)]
        notes.write_labels([label(i) if step < 5 else label(i, None, None) for i in chosen], "alice", "update")
        quests.update(chosen)
        incremental = {c.logo_ids for c in quests.page(2, None, 100)}
        fresh = Quests(store, notes, SqlQuests(store.db), CUT)
        fresh.rebuild()
        assert incremental == {c.logo_ids for c in fresh.page(2, None, 100)}
    store.close()


def sample(logo_id: int, truth: str, predicted: str | None, confidence: float) -> Sample:
    return Sample(logo_id, ("brand", truth), None if predicted is None else ("brand", predicted), confidence)


def test_a_suspect_disagrees_confidently_most_confident_first() -> None:
    samples = [
        sample(1, "a", "b", 0.6),
        sample(2, "a", "a", 0.9),  # agrees
        sample(3, "a", None, 0.0),  # no annotated neighbour: silence is not disagreement
        sample(4, "a", "c", 0.4),  # not confident enough
        sample(5, "b", "a", 0.8),
    ]
    assert [s.logo_id for s in disagreements(samples, 0.5)] == [5, 1]


def test_a_suspect_is_voted_without_itself() -> None:
    annotated = {1: ("brand", "x"), 2: ("brand", "y")}
    neighbours = {1: [(1, 0.0), (2, 0.01)], 2: [(1, 0.01)]}  # logo 1 lists itself, as a stale list may
    found = suspects(annotated, neighbours, VoteParams(), 0.5)
    assert {s.logo_id for s in found} == {1, 2}
    assert all(s.predicted != s.truth for s in found)


def test_arriving_logos_update_the_clusters_as_a_rebuild_would(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite3")
    notes, rng = SqlAnnotations(store.db), np.random.default_rng(11)
    old = [i for name in "abcd" for i in logos(store, f"{name}.jpg", 5)]
    for logo_id in old:
        others = rng.choice([i for i in old if i != logo_id], size=2, replace=False)
        store.set_neighbours(logo_id, [int(i) for i in others], sorted(rng.uniform(0.0, 0.1, 2).tolist()))
    quests = Quests(store, notes, SqlQuests(store.db), CUT)
    quests.rebuild()
    for batch in "efg":  # logos arrive; their lists and the old lists they enter are written, as indexing does
        new = logos(store, f"{batch}.jpg", 5)
        touched = [int(i) for i in rng.choice(old, size=4, replace=False)]
        for logo_id in new:
            others = rng.choice(old + [i for i in new if i != logo_id], size=2, replace=False)
            store.set_neighbours(logo_id, [int(i) for i in others], sorted(rng.uniform(0.0, 0.1, 2).tolist()))
        for logo_id, entering in zip(touched, new, strict=False):
            store.set_neighbours(logo_id, [entering], [float(rng.uniform(0.0, 0.05))])
        quests.update(new + touched, citing=False)
        old += new
        fresh = Quests(store, notes, SqlQuests(store.db), CUT)
        fresh.rebuild()
        assert {c.logo_ids for c in quests.page(2, None, 100)} == {c.logo_ids for c in fresh.page(2, None, 100)}
    store.close()
