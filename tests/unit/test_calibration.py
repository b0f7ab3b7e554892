"""The calibrated thresholds are honest: a one-sided Wilson bound of the tail precision, not its
observed value, must reach the target; and a prediction's precision agrees with its acceptance."""

from __future__ import annotations

import json
import math
import random

import pytest

from common.labels.calibration import Sample, accepted, calibrate, precision_for, threshold, wilson_lower
from common.labels.vote import Key, VoteParams

A, B = ("brand", "coca-cola"), ("brand", "pepsi")
PARAMS = VoteParams(max_distance=0.12, prior_weight=0.5)
Z95 = 1.6448536269514722  # the standard normal's 95 % quantile (tables: 1.645)


def score_root(right: int, n: int, z: float = Z95) -> float:
    """The Wilson bound from its definition: the lower p with (right/n - p)² = z² p (1 - p) / n."""
    h = right / n
    a, b, c = 1 + z * z / n, -(2 * h + z * z / n), h * h
    return (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)


def observed_rule(samples: list[Sample], target: float, min_support: int) -> float | None:
    """The rule the bound replaces: the lowest cut whose observed tail precision reaches the target."""
    for cut in sorted({s.confidence for s in samples}):
        tail = [s for s in samples if s.confidence >= cut]
        if len(tail) >= min_support and sum(s.correct for s in tail) / len(tail) >= target:
            return cut
    return None


def levels(per_level: int) -> list[Sample]:
    """Four confidence levels whose precision rises (0.8, 0.85, 0.97, 0.99), ``per_level`` each."""
    samples = []
    for level, (confidence, share) in enumerate(((0.6, 0.8), (0.7, 0.85), (0.8, 0.97), (0.9, 0.99))):
        right = round(share * per_level)
        for i in range(per_level):
            samples.append(Sample(level * 100_000 + i, A, A if i < right else B, confidence))
    return samples


@pytest.mark.parametrize(("right", "n"), [(10, 10), (12, 12), (9, 10), (60, 75), (1, 3), (970, 1000)])
def test_wilson_bound_is_the_lower_root_of_the_score_equation(right: int, n: int) -> None:
    assert wilson_lower(right, n) == pytest.approx(score_root(right, n), abs=1e-12)
    assert wilson_lower(right, n) < right / n  # a lower bound sits below what was observed
    assert wilson_lower(right, n, level=0.99) < wilson_lower(right, n, level=0.9)


def test_wilson_bound_edges() -> None:
    assert wilson_lower(0, 0) == 0.0 and wilson_lower(0, 25) == 0.0
    assert wilson_lower(10, 10) == pytest.approx(10 / (10 + Z95**2))  # all right: n / (n + z²)


def test_a_handful_of_lucky_samples_passes_the_observed_rule_but_not_the_bound() -> None:
    samples = [Sample(i, A, A, 0.9) for i in range(12)]  # 12 of 12 right at 0.9
    samples += [Sample(100 + i, A, A if i % 2 else B, 0.5) for i in range(20)]
    assert observed_rule(samples, 0.95, min_support=10) == 0.9
    found = threshold(samples, target=0.95, min_support=10, truths=32)
    assert found["threshold"] is None and found["coverage"] == 0.0  # 12 / (12 + z²) = 0.814
    report = calibrate(samples, PARAMS, target=0.95, min_support=10)
    assert not accepted(report, "brand", 0.9) and report["summary"]["accepted"] == 0
    assert precision_for(report, "brand", 0.9) == pytest.approx(12 / (12 + Z95**2))


def test_with_many_samples_the_bound_reaches_the_observed_threshold() -> None:
    few, many = levels(20), levels(5000)
    assert observed_rule(few, 0.95, 10) == observed_rule(many, 0.95, 10) == 0.8
    assert threshold(few, 0.95, 10, len(few))["threshold"] is None  # 39 of 40 right: bound 0.89
    found = threshold(many, 0.95, 10, len(many))
    assert found["threshold"] == 0.8 and found["coverage"] == 0.5
    assert found["precision"] - found["lower_bound"] < 0.005  # the bound closes on the observed value
    assert found["lower_bound"] == pytest.approx(score_root(9800, 10000), abs=1e-4)


def _mixed(seed: int) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for i in range(600):
        kind: Key = ("brand", "x") if i % 3 else ("label", "en:organic")
        confidence = round(rng.random(), 3)
        right = rng.random() < 0.2 + confidence  # always right from 0.8 up
        samples.append(Sample(i, kind, kind if right else (kind[0], "other"), confidence))
    return samples


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95])
def test_precision_reaches_the_target_exactly_when_accepted(target: float) -> None:
    report = json.loads(json.dumps(calibrate(_mixed(7), PARAMS, target=target, min_support=10)))  # as stored
    assert any(v["threshold"] is not None for v in report["thresholds"].values())
    for kind in ("brand", "label", "store"):
        previous = 0.0
        for step in range(1001):
            c = step / 1000
            precision = precision_for(report, kind, c)
            assert precision is not None and precision >= previous  # never lower for a surer vote
            assert (precision >= target) == accepted(report, kind, c), (kind, c)
            previous = precision
