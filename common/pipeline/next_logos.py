"""Use case: what to annotate next, the logos whose annotation would label the most others.

First the representative of each unannotated cluster, largest first (``gain``: the cluster's
size: one cluster annotation labels them all); one logo per cluster, so a page is spread over
as many clusters as it holds. Then, once the clusters run out, logos outside every cluster whose
prediction falls short of its type's calibrated threshold, the nearest to it first (``gain``:
the logo and its unannotated neighbours within the vote's cut-off, whose votes it would join).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from common.pipeline.labelled import pairs
from common.pipeline.propagate import Propagation
from common.pipeline.quests import Quests
from common.ports.annotation_store import Prediction

SCAN = 5000  # predictions read to rank the uncertain ones


@dataclasses.dataclass(frozen=True)
class Suggestion:
    logo_id: int
    reason: str
    gain: int
    cluster_id: int | None = None
    confidence: float | None = None


def _threshold(report: Mapping[str, Any] | None, kind: str) -> float:
    cut = (report or {}).get("thresholds", {}).get(kind, {}).get("threshold")
    return 1.0 if cut is None else float(cut)


def next_logos(
    quests: Quests, propagation: Propagation, count: int, position: tuple[str, int, int]
) -> tuple[list[Suggestion], tuple[str, int, int] | None]:
    """A page from ``position`` (``("c", size, id)`` in the clusters, ``("u", offset, 0)`` after)."""
    out: list[Suggestion] = []
    phase, a, b = position
    if phase == "c":
        page = quests.page(2, None if a == 0 else (a, b), count)
        out = [Suggestion(c.representative_logo_id, "cluster", c.size, c.id) for c in page]
        if len(out) == count:
            return out, ("c", page[-1].size, page[-1].id)
        phase, a = "u", 0
    ranked = _uncertain(quests, propagation)
    chosen = ranked[a : a + count - len(out)]
    lists = propagation.store.get_neighbours([s.logo_id for s in chosen])
    near = {i: [o for o, d in pairs(lists.get(i)) if d < propagation.params.max_distance] for i in lists}
    known = propagation.notes.get_annotations(sorted({o for found in near.values() for o in found}))
    for s in chosen:
        free = [o for o in near.get(s.logo_id, []) if o in known and not known[o].annotated]
        out.append(dataclasses.replace(s, gain=1 + len(free)))
    end = a + len(chosen)
    return out, (("u", end, 0) if end < len(ranked) else None)


def _uncertain(quests: Quests, propagation: Propagation) -> list[Suggestion]:
    report = propagation.report()
    found: list[Prediction] = []
    after = 0
    while len(found) < SCAN and (page := propagation.notes.list_predictions(after=after, count=1000)):
        found += [p for p in page if p.confidence < _threshold(report, p.type)]
        after = page[-1].logo_id
    clustered = quests.quests.cluster_ids_of([p.logo_id for p in found])
    kept = [p for p in found if p.logo_id not in clustered]
    kept.sort(key=lambda p: (_threshold(report, p.type) - p.confidence, p.logo_id))
    return [Suggestion(p.logo_id, "uncertain", 1, None, p.confidence) for p in kept]
