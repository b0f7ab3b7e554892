"""Leave-one-out calibration of the vote: how often a prediction of a given confidence is right.

Each annotated logo is predicted from its stored neighbours without itself, and compared with
its own annotation. From those samples:

- a **reliability table**: per confidence bin, the number of predictions, how many were right,
  the observed precision, for all types together, per predicted type, and per frequent value;
- a **precision curve** per type (``curves``, a view of the table): the observed precision made
  non-decreasing in confidence (pool-adjacent-violators over the bins) and shrunk towards 1/2 by
  one right and one wrong pseudo-prediction per pooled block;
- a **threshold** per type: the lowest confidence ``t`` at which a one-sided lower confidence
  bound (Wilson score, level ``BOUND_LEVEL``) of the *tail* precision, the share right among the
  type's samples of confidence ``>= t``, reaches ``target_precision``, over at least
  ``min_support`` samples; None (nothing of that type is accepted) when no cut does. Taking the
  lowest cut whose *observed* tail precision reaches the target would pick, among many cuts, one
  that was lucky on a handful of samples, and miss the target on new logos; the bound asks the
  samples to show the target with ``BOUND_LEVEL`` confidence, so few samples accept little or
  nothing. The threshold row keeps the observed tail ``precision`` and adds its ``lower_bound``;
- **bounds** per type: the step function ``precision_for`` reads. At confidence ``c`` it is the
  highest tail lower bound among the cuts ``t <= c`` with at least ``min_support`` samples (every
  such tail contains a prediction of confidence ``c``), so it never decreases with confidence;
  0.0 where no cut supports a bound (below the type's calibrated confidences, a type with too
  few samples, a type never predicted). It is a lower bound, not a point estimate.

The estimate and the rule agree: a prediction is ``accepted`` exactly when its ``precision``
reaches the report's ``target_precision`` (both read the same tail bounds), so filtering the
predictions by ``min_precision = target`` gives the accepted ones. Reports stored before the
bounds existed are read through their ``curves``.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from statistics import NormalDist
from typing import Any

from common.labels.vote import Key, VoteParams, vote

BINS = 10
# One-sided level of the tail-precision bound: the conventional 95 %. A cut whose true precision
# is below the target passes about one time in 20 at most (per cut; scanning for the lowest
# passing cut adds a little optimism back). The bound takes the samples as independent; logos of
# one kind tend to err together, which makes it somewhat optimistic on small sets.
BOUND_LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Sample:
    logo_id: int
    truth: Key
    predicted: Key | None
    confidence: float

    @property
    def correct(self) -> bool:
        return self.predicted == self.truth


def loo_samples(
    annotated: Mapping[int, Key], neighbours: Mapping[int, Sequence[tuple[int, float]]], params: VoteParams
) -> list[Sample]:
    """One sample per annotated logo that has stored neighbours, predicted without itself."""
    samples = []
    for logo_id, truth in annotated.items():
        found = neighbours.get(logo_id)
        if found is None:
            continue
        result = vote(found, annotated, params, exclude=logo_id)
        predicted = None if result is None else (result.type, result.value)
        samples.append(Sample(logo_id, truth, predicted, 0.0 if result is None else result.confidence))
    return samples


def _bin(confidence: float) -> int:
    return min(BINS - 1, max(0, int(confidence * BINS)))


def reliability(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    counts, right, total_conf = [0] * BINS, [0] * BINS, [0.0] * BINS
    for s in samples:
        b = _bin(s.confidence)
        counts[b] += 1
        right[b] += int(s.correct)
        total_conf[b] += s.confidence
    return [
        {
            "low": b / BINS,
            "high": (b + 1) / BINS,
            "count": counts[b],
            "correct": right[b],
            "precision": round(right[b] / counts[b], 4) if counts[b] else None,
            "mean_confidence": round(total_conf[b] / counts[b], 4) if counts[b] else None,
        }
        for b in range(BINS)
    ]


def precision_curve(table: Sequence[dict[str, Any]]) -> list[float | None]:
    """Per bin, the monotone, shrunk precision estimate (all None when the table is empty)."""
    blocks: list[list[int]] = []  # [count, correct, first bin, last bin]
    for b, row in enumerate(table):
        if row["count"]:
            blocks.append([row["count"], row["correct"], b, b])
            while len(blocks) > 1 and blocks[-2][1] * blocks[-1][0] > blocks[-1][1] * blocks[-2][0]:
                last = blocks.pop()
                blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2], last[3]]
    curve: list[float | None] = [None] * len(table)
    best = 0.0
    for count, correct, first, _ in blocks:
        best = max(best, (correct + 1) / (count + 2))
        for b in range(first, len(table)):
            curve[b] = round(best, 4)
    if blocks:  # below every observed confidence: the prior (1/2), never above what was observed
        low = min(0.5, (blocks[0][1] + 1) / (blocks[0][0] + 2))
        curve[: blocks[0][2]] = [round(low, 4)] * blocks[0][2]
    return curve


def wilson_lower(right: int, n: int, level: float = BOUND_LEVEL) -> float:
    """One-sided Wilson score lower bound of a proportion ``right / n`` (0.0 when ``n == 0``)."""
    if n <= 0:
        return 0.0
    z = NormalDist().inv_cdf(level)
    p, z2 = right / n, z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


def samples_needed(target: float, level: float = BOUND_LEVEL) -> int | None:
    """The fewest samples, all right, whose lower bound reaches ``target`` (None: none can, target 1)."""
    if target >= 1.0:
        return None
    z2 = NormalDist().inv_cdf(level) ** 2
    n = max(1, math.ceil(target * z2 / (1.0 - target)) - 1)
    while wilson_lower(n, n, level) < target:  # n / (n + z^2) >= target, free of rounding
        n += 1
    return n


def tail_bounds(samples: Sequence[Sample], min_support: int, level: float = BOUND_LEVEL) -> list[list[float]]:
    """Per distinct confidence ``t`` with at least ``min_support`` samples at or above it:
    ``[t, lower bound, samples kept, right]`` of the tail ``confidence >= t``, ascending ``t``."""
    ranked = sorted(samples, key=lambda s: s.confidence)
    right = sum(s.correct for s in ranked)
    cuts: list[list[float]] = []
    for n, s in enumerate(ranked):
        kept = len(ranked) - n
        if kept < min_support:
            break
        if n == 0 or ranked[n - 1].confidence < s.confidence:
            cuts.append([s.confidence, wilson_lower(right, kept, level), kept, right])
        right -= int(s.correct)
    return cuts


def threshold(
    samples: Sequence[Sample], target: float, min_support: int, truths: int, level: float = BOUND_LEVEL
) -> dict[str, Any]:
    """The lowest cut whose tail lower bound reaches ``target`` (threshold None when none does)."""
    for cut, bound, kept, right in tail_bounds(samples, min_support, level):
        if bound >= target:
            return {
                "threshold": cut,
                "precision": round(right / kept, 4),
                "lower_bound": round(bound, 4),
                "coverage": round(kept / truths, 4) if truths else 0.0,
                "support": int(kept),
            }
    return {"threshold": None, "precision": None, "lower_bound": None, "coverage": 0.0, "support": 0}


def bound_curve(samples: Sequence[Sample], min_support: int, level: float = BOUND_LEVEL) -> list[list[float]]:
    """``[[t, bound], ...]``: from ``t`` up, the best tail lower bound of a cut at or below ``t``."""
    steps: list[list[float]] = []
    for cut, bound, _, _ in tail_bounds(samples, min_support, level):
        if not steps or bound > steps[-1][1]:
            steps.append([cut, bound])
    return steps


def calibrate(
    samples: Sequence[Sample],
    params: VoteParams,
    target: float = 0.95,
    min_support: int = 10,
    frequent_min: int = 20,
    level: float = BOUND_LEVEL,
) -> dict[str, Any]:
    """The calibration report (stored as JSON; ``precision_for`` reads it)."""
    predicted = [s for s in samples if s.predicted is not None]
    by_type: dict[str, list[Sample]] = defaultdict(list)
    by_value: dict[str, list[Sample]] = defaultdict(list)
    for s in predicted:
        assert s.predicted is not None
        by_type[s.predicted[0]].append(s)
        by_value[f"{s.predicted[0]}:{s.predicted[1]}"].append(s)
    truths = Counter(s.truth[0] for s in samples)
    tables = {t: reliability(group) for t, group in sorted(by_type.items())}
    everything = reliability(predicted)
    groups = sorted(by_type.items())
    thresholds = {t: threshold(group, target, min_support, truths[t], level) | {"samples": len(group)}
                  for t, group in groups}  # fmt: skip
    accepted = [s for s in predicted if _accepted(s, thresholds)]
    return {
        "target_precision": target,
        "samples": len(samples),
        "predicted": len(predicted),
        "params": dataclasses.asdict(params) | {"min_support": min_support, "bound": "wilson", "bound_level": level},
        "thresholds": thresholds,
        "summary": {
            "accepted": len(accepted),
            "precision": round(sum(s.correct for s in accepted) / len(accepted), 4) if accepted else None,
            "coverage": round(len(accepted) / len(samples), 4) if samples else 0.0,
        },
        "reliability": {
            "all": everything,
            "by_type": tables,
            "by_value": {v: reliability(group) for v, group in sorted(by_value.items()) if len(group) >= frequent_min},
        },
        "curves": {"all": precision_curve(everything)}
        | {t: precision_curve(table) for t, table in tables.items() if len(by_type[t]) >= min_support},
        "bounds": {t: bound_curve(group, min_support, level) for t, group in groups},
    }


def _accepted(s: Sample, thresholds: Mapping[str, Mapping[str, Any]]) -> bool:
    assert s.predicted is not None
    cut = thresholds.get(s.predicted[0], {}).get("threshold")
    return cut is not None and s.confidence >= cut


def precision_for(report: Mapping[str, Any] | None, kind: str, confidence: float) -> float | None:
    """The calibrated precision (a lower bound) of a prediction (None before any calibration)."""
    if not report:
        return None
    if "bounds" in report:
        steps = report["bounds"].get(kind) or []
        at = bisect.bisect_right([cut for cut, _ in steps], confidence)
        return float(steps[at - 1][1]) if at else 0.0
    curves = report.get("curves", {})  # a report stored before the bounds existed
    curve = curves.get(kind) or curves.get("all")
    if not curve:
        return None
    value = curve[_bin(confidence)]
    return None if value is None else float(value)


def accepted(report: Mapping[str, Any] | None, kind: str, confidence: float) -> bool:
    """Whether a prediction reaches its type's calibrated threshold."""
    cut = (report or {}).get("thresholds", {}).get(kind, {}).get("threshold")
    return cut is not None and confidence >= float(cut)
