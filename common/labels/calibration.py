"""Leave-one-out calibration of the vote: how often a prediction of a given confidence is right.

Each annotated logo is predicted from its stored neighbours without itself, and compared with
its own annotation. From those samples:

- a **reliability table**: per confidence bin, the number of predictions, how many were right,
  the observed precision, for all types together, per predicted type, and per frequent value;
- a **precision curve** per type: the observed precision made non-decreasing in confidence
  (pool-adjacent-violators over the bins) and shrunk towards 1/2 by one right and one wrong
  pseudo-prediction per pooled block, so a handful of lucky samples never reads as certainty.
  Below the lowest observed confidence the estimate is the prior, 1/2 (or the lowest observed
  value if smaller). A type with fewer than ``min_support`` samples uses the curve of all types;
- a **threshold** per type: the lowest confidence at which the predictions at or above it
  reach ``target_precision`` over at least ``min_support`` samples (None when none does), with
  the precision and coverage it gives.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common.labels.vote import Key, VoteParams, vote

BINS = 10


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


def threshold(samples: Sequence[Sample], target: float, min_support: int, truths: int) -> dict[str, Any]:
    ranked = sorted(samples, key=lambda s: s.confidence)
    right = sum(s.correct for s in ranked)
    for n, s in enumerate(ranked):
        kept = len(ranked) - n
        if kept < min_support:
            break
        if (n == 0 or ranked[n - 1].confidence < s.confidence) and right / kept >= target:
            return {
                "threshold": s.confidence,
                "precision": round(right / kept, 4),
                "coverage": round(kept / truths, 4) if truths else 0.0,
                "support": kept,
            }
        right -= int(s.correct)
    return {"threshold": None, "precision": None, "coverage": 0.0, "support": 0}


def calibrate(
    samples: Sequence[Sample],
    params: VoteParams,
    target: float = 0.95,
    min_support: int = 10,
    frequent_min: int = 20,
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
    thresholds = {t: threshold(group, target, min_support, truths[t]) for t, group in sorted(by_type.items())}
    accepted = [s for s in predicted if _accepted(s, thresholds)]
    return {
        "target_precision": target,
        "samples": len(samples),
        "predicted": len(predicted),
        "params": dataclasses.asdict(params) | {"min_support": min_support},
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
    }


def _accepted(s: Sample, thresholds: Mapping[str, Mapping[str, Any]]) -> bool:
    assert s.predicted is not None
    cut = thresholds.get(s.predicted[0], {}).get("threshold")
    return cut is not None and s.confidence >= cut


def precision_for(report: Mapping[str, Any] | None, kind: str, confidence: float) -> float | None:
    """The calibrated precision estimate of a prediction (None before any calibration)."""
    if not report:
        return None
    curves = report.get("curves", {})
    curve = curves.get(kind) or curves.get("all")
    if not curve:
        return None
    value = curve[_bin(confidence)]
    return None if value is None else float(value)


def accepted(report: Mapping[str, Any] | None, kind: str, confidence: float) -> bool:
    """Whether a prediction reaches its type's calibrated threshold."""
    cut = (report or {}).get("thresholds", {}).get(kind, {}).get("threshold")
    return cut is not None and confidence >= float(cut)
