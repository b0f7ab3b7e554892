"""The annotation benchmark: each simulated person reaches the goal through the API, with
labels checked against the hidden truth, and the cluster profile per cut-off."""

from __future__ import annotations

from pathlib import Path

from bench.annotation import GOAL, cluster_profile, compare
from bench.propagation_data import synthetic


def test_every_way_labels_the_goal_share_through_the_api(tmp_path: Path) -> None:
    vectors, kinds = synthetic(6, 150, seed=4)
    rows = compare("tiny", lambda: (vectors, kinds), tmp_path, seed=0)
    assert [r["way"] for r in rows] == ["one at a time (deep search today)", "value clusters", "quests with next"]
    for row in rows:
        assert row["reached"] and row["fraction"] >= GOAL and row["labelled"] == round(row["fraction"] * len(kinds))
        assert row["annotated"] + row["accepted_predictions"] == row["labelled"] and row["actions"] > 0
        assert 0.0 <= row["precision"] <= 1.0
    assert rows[0]["fewer_actions_than_one_at_a_time"] == 1.0


def test_cluster_coverage_grows_with_the_cut_off() -> None:
    vectors, kinds = synthetic(6, 200, seed=5)
    rows = cluster_profile("tiny", vectors, kinds)
    coverage = [r["coverage"] for r in rows]
    assert coverage == sorted(coverage) and all(0 <= c <= 1 for c in coverage)
    assert all(r["purity"] is None or 0 < r["purity"] <= 1 for r in rows)
