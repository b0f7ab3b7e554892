"""Use case: calibrate the vote by leave-one-out over the annotated logos, store the report,
and refresh every stored prediction with the new precision estimates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.labels.calibration import calibrate, loo_samples
from common.labels.vote import Key
from common.pipeline.propagate import Propagation

BATCH = 5000


def run_calibration(
    propagation: Propagation, target: float, min_support: int, frequent_min: int, refresh: bool = True,
    advance: Callable[[int], object] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The report; ``advance(n)`` after each batch of ``n`` predictions refreshed."""
    notes, store = propagation.notes, propagation.store
    annotated: dict[int, Key] = {}
    after = 0
    while rows := notes.annotated_logos(after=after, count=BATCH):
        annotated.update((logo_id, a.key) for logo_id, a in rows if a.key is not None)
        after = rows[-1][0]
    ids = sorted(annotated)
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for start in range(0, len(ids), BATCH):
        for logo_id, doc in store.get_neighbours(ids[start : start + BATCH]).items():
            pairs = zip(doc.get("logo_ids", []), doc.get("distances", []), strict=False)
            neighbours[logo_id] = [(int(i), float(d)) for i, d in pairs]
    samples = loo_samples(annotated, neighbours, propagation.params)
    report = calibrate(samples, propagation.params, target, min_support, frequent_min)
    report["id"] = notes.save_calibration(report)
    report["refreshed"] = propagation.refresh_all(advance=advance) if refresh else 0
    return report
