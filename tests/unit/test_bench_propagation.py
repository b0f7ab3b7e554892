"""The label-propagation benchmark: exact neighbours, and both rules scored on a set of known kinds."""

from __future__ import annotations

import numpy as np

from bench.propagation import evaluate, neighbours
from bench.propagation_data import kind_of, synthetic
from common.labels.vote import VoteParams


def test_exact_neighbours_exclude_the_row_itself() -> None:
    vectors = np.eye(4, dtype=np.float32)[[0, 0, 1, 2]]
    vectors[1] = np.array([0.99, 0.141, 0, 0], dtype=np.float32) / np.linalg.norm([0.99, 0.141])
    found = neighbours(vectors, k=2)
    assert [i for i, _ in found[0]][0] == 1 and all(i != row for row, f in enumerate(found) for i, _ in f)
    assert found[0][0][1] < 0.01 and found[0][1][1] == 0.5  # orthogonal: (1 - 0) / 2


def test_both_rules_are_scored_against_the_hidden_kinds() -> None:
    vectors, kinds = synthetic(10, 300, dim=64, seed=1)
    assert len(set(kinds)) == 10 and min(np.bincount(kinds)) >= 4
    assert {kind_of(k)[0] for k in kinds} == {"brand", "label"}
    rows = evaluate(neighbours(vectors), kinds, 0.5, VoteParams(0.12, 0.5), 0.95, seed=0)
    ours, theirs = rows
    assert ours["held_out"] == theirs["held_out"] == len(kinds) - ours["annotated"]
    for row in rows:
        assert 0 <= row["coverage"] <= 1 and row["accepted"] == round(row["coverage"] * row["held_out"])
        assert row["precision"] is None or 0 <= row["precision"] <= 1
