"""The neighbours' vote, Robotoff's rule, and the leave-one-out calibration (hand-computed cases)."""

from __future__ import annotations

import pytest

from common.labels.calibration import (
    Sample,
    accepted,
    calibrate,
    loo_samples,
    precision_curve,
    precision_for,
    reliability,
    threshold,
)
from common.labels.vote import VoteParams, robotoff_vote, vote

A, B = ("brand", "coca-cola"), ("brand", "pepsi")
Z95 = 1.6448536269514722  # the standard normal's 95 % quantile
PARAMS = VoteParams(max_distance=0.12, prior_weight=0.5)


def test_vote_cut_off_abstentions_and_prior() -> None:
    neighbours = [(1, 0.0), (2, 0.06), (3, 0.03), (4, 0.2)]
    result = vote(neighbours, {1: A, 2: B, 4: B}, PARAMS)
    assert result is not None
    # weights 1 - d/0.12: logo 1 → 1.0 (A), logo 2 → 0.5 (B); 3 abstains; 4 is beyond the cut-off
    assert (result.type, result.value) == A
    assert result.confidence == pytest.approx(1.0 / (1.5 + 0.5))
    votes = result.votes
    assert (votes["support"], votes["against"], votes["abstained"], votes["beyond_cutoff"]) == (1, 1, 1, 1)


def test_more_agreeing_neighbours_give_more_confidence() -> None:
    one = vote([(1, 0.0)], {1: A}, PARAMS)
    three = vote([(1, 0.0), (2, 0.0), (3, 0.0)], {1: A, 2: A, 3: A}, PARAMS)
    assert one is not None and three is not None
    assert one.confidence == pytest.approx(1 / 1.5) and three.confidence == pytest.approx(3 / 3.5)


def test_no_vote_without_an_annotated_neighbour_in_reach() -> None:
    assert vote([(1, 0.2), (2, 0.01)], {1: A}, PARAMS) is None
    assert vote([(1, 0.0)], {1: A}, PARAMS, exclude=1) is None
    assert vote([], {}, PARAMS) is None


def test_robotoff_rule() -> None:
    best = robotoff_vote([(1, 0.1), (2, 0.2), (3, 0.4)], {1: A, 3: A})
    assert best is not None and best[0] == A
    assert best[1] == pytest.approx((10 + 2.5) / (10 + 5 + 2.5))  # the unannotated logo 2 dilutes
    exact = robotoff_vote([(1, 0.0), (2, 0.001)], {2: B, 1: A})
    assert exact == (A, 1.0)  # a neighbour at distance 0 takes all the weight
    assert robotoff_vote([(1, 0.1)], {}) is None


def test_leave_one_out_never_uses_the_logo_itself() -> None:
    annotated = {1: A, 2: A, 3: A, 4: B}
    neighbours = {1: [(1, 0.0), (2, 0.02)], 2: [(1, 0.02)], 3: [(9, 0.01)], 4: [(1, 0.01), (2, 0.01)]}
    samples = {s.logo_id: s for s in loo_samples(annotated, neighbours, PARAMS)}
    assert samples[1].predicted == A and samples[1].correct
    assert samples[1].confidence == pytest.approx((1 - 0.02 / 0.12) / ((1 - 0.02 / 0.12) + 0.5))
    assert samples[3].predicted is None and samples[3].confidence == 0.0
    assert samples[4].predicted == A and not samples[4].correct


def test_threshold_is_the_lowest_confidence_whose_bound_reaches_the_target() -> None:
    samples = [Sample(i, A, A, 0.9) for i in range(20)] + [
        Sample(100 + i, A, A if i % 2 else B, 0.5) for i in range(20)
    ]
    # 20 of 20 right at 0.9: the one-sided 95 % Wilson bound is 20 / (20 + z²) = 0.881 < 0.95
    assert threshold(samples, target=0.95, min_support=10, truths=40)["threshold"] is None
    found = threshold(samples, target=0.85, min_support=10, truths=40)
    assert found["threshold"] == 0.9 and (found["precision"], found["coverage"], found["support"]) == (1.0, 0.5, 20)
    assert found["lower_bound"] == pytest.approx(20 / (20 + Z95**2), abs=1e-4)
    # 30 of 40 right from 0.5 up: observed 0.75, but its bound is below 0.7, so 0.5 is not the cut
    assert threshold(samples, target=0.7, min_support=10, truths=40)["threshold"] == 0.9
    assert threshold(samples, target=0.6, min_support=10, truths=40)["threshold"] == 0.5
    assert threshold(samples[:5], target=0.1, min_support=10, truths=5)["threshold"] is None  # too few


def test_precision_curve_is_monotone_and_shrunk() -> None:
    table = reliability(
        [Sample(i, A, A if i < 8 else B, 0.35) for i in range(10)]
        + [Sample(50 + i, A, A if i < 2 else B, 0.65) for i in range(10)]
    )
    assert (table[3]["count"], table[3]["correct"], table[6]["precision"]) == (10, 8, 0.2)
    curve = precision_curve(table)
    # bins 3 and 6 violate monotonicity: pooled to 10/20, shrunk (10+1)/(20+2)
    assert set(curve) == {0.5}  # below bin 3: the prior 1/2
    high = precision_curve(reliability([Sample(i, A, A, 0.95) for i in range(20)]))
    assert high[9] == pytest.approx(21 / 22, abs=1e-4) and high[0] == 0.5
    low = precision_curve(reliability([Sample(i, A, B, 0.55) for i in range(20)]))
    assert low[0] == pytest.approx(1 / 22, abs=1e-4)  # never above what was observed
    assert precision_curve(reliability([])) == [None] * 10


def test_calibration_report_thresholds_and_precision_lookup() -> None:
    samples = [Sample(i, A, A, 0.92) for i in range(60)] + [Sample(100 + i, A, B, 0.45) for i in range(15)]
    samples += [Sample(200 + i, ("store", "lidl"), None, 0.0) for i in range(5)]
    report = calibrate(samples, PARAMS, target=0.95, min_support=10, frequent_min=10)
    assert report["samples"] == 80 and report["predicted"] == 75
    assert report["thresholds"]["brand"]["threshold"] == 0.92  # 60 / (60 + z²) = 0.957
    assert report["summary"] == {"accepted": 60, "precision": 1.0, "coverage": 0.75}
    assert set(report["reliability"]["by_value"]) == {"brand:coca-cola", "brand:pepsi"}
    assert precision_for(report, "brand", 0.93) == pytest.approx(60 / (60 + Z95**2), abs=1e-9)
    assert precision_for(report, "brand", 0.46) == pytest.approx(0.7142, abs=1e-4)  # 60 of 75: Wilson lower root
    assert precision_for(report, "brand", 0.44) == 0.0  # below every calibrated confidence
    assert precision_for(report, "store", 0.99) == 0.0  # never predicted: no bound
    assert precision_for(None, "brand", 0.9) is None
    assert accepted(report, "brand", 0.95) and not accepted(report, "brand", 0.5)
    assert not accepted(report, "store", 0.99)
