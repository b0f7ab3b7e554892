"""The neighbours' vote: a logo's predicted (type, value) and its confidence.

Robotoff weighs each of the 10 stored neighbours by ``1/d``, counts unannotated neighbours in
the denominator and accepts a share of 0.2, with no distance cut-off. Here:

- **Cut-off.** Only neighbours within ``max_distance`` vote; each weighs ``1 - d/max_distance``
  (1 for an identical crop, 0 at the cut-off): no ``1/0`` singularity, and a far neighbour
  cannot outvote a near one.
- **Unannotated neighbours abstain.** Not knowing a neighbour's label is not evidence against
  the winner, so they are left out of the shares; they are counted in ``votes`` (``abstained``),
  so a reader sees how much of the neighbourhood is known.
- **A prior weight.** ``confidence = W(winner) / (W(annotated) + prior_weight)``: one close
  annotated neighbour alone cannot give certainty (with the default 0.5, one identical
  neighbour gives 0.67, three give 0.86).

Each vote also lists its top ``ALTERNATIVES`` labels with their shares (``W(label) / (W(annotated)
+ prior_weight)``, the winner's share being its confidence), and ``banned`` labels (a person said
"this logo is not V": a negative) never win: they are left out of the shares altogether.

The confidence is a score, not a probability: ``common.labels.calibration`` measures, by
leave-one-out over the annotated logos, how often a prediction of each confidence is right.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

Key = tuple[str, "str | None"]  # (type, canonical value)
ALTERNATIVES = 3


@dataclasses.dataclass(frozen=True)
class VoteParams:
    max_distance: float = 0.12
    prior_weight: float = 0.5


@dataclasses.dataclass(frozen=True)
class Vote:
    type: str
    value: str | None
    confidence: float
    votes: dict[str, Any]


def weight(distance: float, params: VoteParams) -> float:
    return max(0.0, 1.0 - float(distance) / params.max_distance)


def vote(
    neighbours: Sequence[tuple[int, float]],
    labels: Mapping[int, Key],
    params: VoteParams,
    exclude: int | None = None,
    banned: Collection[Key] = (),
) -> Vote | None:
    """The winning label among ``neighbours`` (``(logo_id, distance)``), or None when no
    annotated neighbour is within the cut-off. ``exclude``: a logo that must not vote (itself);
    ``banned``: labels that may not win (the logo's negatives)."""
    totals: dict[Key, float] = defaultdict(float)
    counts: dict[Key, int] = defaultdict(int)
    abstained = beyond = 0
    for logo_id, distance in neighbours:
        if logo_id == exclude:
            continue
        if distance >= params.max_distance:
            beyond += 1
            continue
        key = labels.get(logo_id)
        if key is None:
            abstained += 1
            continue
        if key in banned:
            continue
        totals[key] += weight(distance, params)
        counts[key] += 1
    if not totals:
        return None
    best = max(totals, key=lambda k: (totals[k], counts[k], k[0], k[1] or ""))
    annotated = sum(totals.values())
    confidence = totals[best] / (annotated + params.prior_weight)
    runner_up = max((w for k, w in totals.items() if k != best), default=0.0)
    others = sorted((k for k in totals if k != best), key=lambda k: (-totals[k], -counts[k], k[0], k[1] or ""))
    ranked = [best, *others][:ALTERNATIVES]
    shares = [
        {"type": k[0], "value": k[1], "share": round(totals[k] / (annotated + params.prior_weight), 6)} for k in ranked
    ]
    return Vote(
        best[0],
        best[1],
        round(confidence, 6),
        {
            "support": counts[best],
            "against": sum(counts.values()) - counts[best],
            "abstained": abstained,
            "beyond_cutoff": beyond,
            "weight": round(totals[best], 6),
            "weight_against": round(annotated - totals[best], 6),
            "runner_up_weight": round(runner_up, 6),
            "alternatives": shares,
        },
    )


def robotoff_vote(
    neighbours: Sequence[tuple[int, float]], labels: Mapping[int, Key], exclude: int | None = None
) -> tuple[Key, float] | None:
    """Robotoff's rule, for comparison: ``1/d`` weights (``d == 0``: that neighbour alone),
    unannotated neighbours in the denominator, no cut-off; the best label and its share (it is
    accepted at a share of 0.2)."""
    pairs = [(i, d) for i, d in neighbours if i != exclude]
    if not pairs:
        return None
    exact = [i for i, d in pairs if d <= 0.0]
    weights = {i: (1.0 if i in exact else 0.0) for i, _ in pairs} if exact else {i: 1.0 / d for i, d in pairs}
    total = sum(weights.values())
    shares: dict[Key, float] = defaultdict(float)
    for logo_id, w in weights.items():
        key = labels.get(logo_id)
        if key is not None:
            shares[key] += w / total
    if not shares:
        return None
    best = max(shares, key=lambda k: (shares[k], k[0], k[1] or ""))
    return best, shares[best]
