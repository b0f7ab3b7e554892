"""What to annotate next: clusters and predicted labels' groups ranked by gain, each logo once."""

from __future__ import annotations

from typing import Any

from common.pipeline.next_logos import next_logos
from common.records.annotations import Prediction
from common.records.quests import Cluster

REPORT = {"thresholds": {"brand": {"threshold": 0.8}}}


class Clusters:
    def __init__(self, found: list[Cluster]) -> None:
        self.found = found

    def page(self, min_size: int, after: Any, count: int) -> list[Cluster]:
        return self.found[:count]


class Votes:
    def __init__(self, predictions: list[Prediction]) -> None:
        self.notes = self
        self.predictions = predictions

    def report(self) -> dict[str, Any]:
        return REPORT

    def list_predictions(self, after: int = 0, count: int = 100, **_: Any) -> list[Prediction]:
        return [p for p in self.predictions if p.logo_id > after][:count]


def predicted(value: str, confidence: float, *ids: int) -> list[Prediction]:
    return [Prediction(i, "brand", value, confidence, None, {}) for i in ids]


def suggestions(clusters: list[Cluster], predictions: list[Prediction], count: int = 10) -> list[tuple[Any, ...]]:
    found, _ = next_logos(Clusters(clusters), Votes(predictions), count, 0)  # type: ignore[arg-type]
    return [(s.reason, s.gain, s.logo_ids) for s in found]


def test_largest_gain_first_and_each_logo_once() -> None:
    a = Cluster(1, 6, (1, 2, 3, 4, 5, 6), 3, 0.02)
    b = Cluster(2, 2, (10, 11), 10, 0.01)
    votes = predicted("x", 0.5, 1, 2, 3, 4, 20) + predicted("y", 0.6, 30) + predicted("z", 0.9, 40)
    assert suggestions([a, b], sorted(votes, key=lambda p: p.logo_id)) == [
        ("cluster", 6, (1, 2, 3, 4, 5, 6)),
        ("cluster", 2, (10, 11)),
        ("near_threshold", 1, (20,)),  # the group of x less the logos cluster 1 shows
        ("near_threshold", 1, (30,)),
    ]  # z is above its type's threshold (accepted): nothing to do


def test_a_cluster_a_larger_group_mostly_shows_is_left_out_and_the_group_is_ordered_by_margin() -> None:
    b = Cluster(2, 2, (10, 11), 10, 0.01)
    votes = predicted("z", 0.5, 10, 11, 12) + predicted("z", 0.7, 13)
    assert suggestions([b], sorted(votes, key=lambda p: p.logo_id)) == [("near_threshold", 4, (13, 10, 11, 12))]


def test_pages_follow_the_offset() -> None:
    clusters = [Cluster(i, 10 - i, tuple(range(100 * i, 100 * i + 10 - i)), 100 * i, 0.0) for i in range(1, 6)]
    first, following = next_logos(Clusters(clusters), Votes([]), 2, 0)  # type: ignore[arg-type]
    second, last = next_logos(Clusters(clusters), Votes([]), 3, following or 0)  # type: ignore[arg-type]
    assert [s.cluster_id for s in first + second] == [1, 2, 3, 4, 5] and last is None
