"""Use case: the suspect annotations (``common.labels.suspects``) over the whole store, a page at a time."""

from __future__ import annotations

from common.labels.calibration import Sample
from common.labels.suspects import suspects
from common.pipeline.labelled import annotated_keys, lists_of
from common.pipeline.propagate import Propagation


def suspect_page(
    propagation: Propagation, min_confidence: float, after: tuple[float, int] | None, count: int
) -> tuple[list[Sample], bool]:
    """Suspects after the ``(confidence, logo_id)`` position ``after`` (most confident first),
    and whether more follow."""
    annotated = annotated_keys(propagation.notes)
    found = suspects(annotated, lists_of(propagation.store, list(annotated)), propagation.params, min_confidence)
    if after is not None:
        found = [s for s in found if (-s.confidence, s.logo_id) > (-after[0], after[1])]
    return found[:count], len(found) > count
