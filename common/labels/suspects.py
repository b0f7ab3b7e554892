"""Suspect annotations: annotated logos whose close neighbours confidently say otherwise.

Each annotated logo is voted on by its stored neighbours without itself (leave-one-out, the
calibration's ``loo_samples``). It is a suspect when that vote names another label with a
confidence of at least ``min_confidence``; the most confident disagreement comes first (ties
by logo id). A logo with no annotated neighbour within the cut-off is never a suspect: silence
is not disagreement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common.labels.calibration import Sample, loo_samples
from common.labels.vote import Key, VoteParams


def disagreements(samples: Sequence[Sample], min_confidence: float) -> list[Sample]:
    found = [
        s for s in samples if s.predicted is not None and s.predicted != s.truth and s.confidence >= min_confidence
    ]
    return sorted(found, key=lambda s: (-s.confidence, s.logo_id))


def suspects(
    annotated: Mapping[int, Key],
    neighbours: Mapping[int, Sequence[tuple[int, float]]],
    params: VoteParams,
    min_confidence: float,
) -> list[Sample]:
    return disagreements(loo_samples(annotated, neighbours, params), min_confidence)
