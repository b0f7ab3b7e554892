"""Use case: what to annotate next, the logos whose annotation would label the most others.

First the representative of each unannotated cluster, largest first, with its members
(``gain``: the cluster's size: one cluster annotation labels them all); one logo per cluster, so a page is spread over
as many clusters as it holds. Then, once the clusters run out, the logos outside every cluster
whose prediction falls short of its type's calibrated threshold, one suggestion per predicted
label (``type``, ``value``), the largest group first, its logos nearest the threshold first
(``gain``: the logos shown): a person confirms the right ones in one annotation and rejects
the others, the validation queue of propagated labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from common.pipeline.propagate import Propagation
from common.pipeline.quests import Quests
from common.ports.annotation_store import Prediction

SCAN = 20_000  # predictions read to rank those near the threshold
GROUP = 100  # logos shown of one predicted label


@dataclasses.dataclass(frozen=True)
class Suggestion:
    logo_id: int
    reason: str
    gain: int
    cluster_id: int | None = None
    confidence: float | None = None
    logo_ids: tuple[int, ...] = ()  # a cluster's members, so the page shows the quest at once
    type: str | None = None  # near_threshold: the label the group's votes name
    value: str | None = None


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
        out = [Suggestion(c.representative_logo_id, "cluster", c.size, c.id, None, c.logo_ids) for c in page]
        if len(out) == count:
            return out, ("c", page[-1].size, page[-1].id)
        phase, a = "u", 0
    ranked = _near_threshold(quests, propagation)
    chosen = ranked[a : a + count - len(out)]
    end = a + len(chosen)
    return out + chosen, (("u", end, 0) if end < len(ranked) else None)


def _near_threshold(quests: Quests, propagation: Propagation) -> list[Suggestion]:
    """Predictions below their type's threshold, outside every cluster, grouped by label: one
    suggestion per label, largest group first, its logos nearest the threshold first."""
    report = propagation.report()
    found: list[Prediction] = []
    after = 0
    while len(found) < SCAN and (page := propagation.notes.list_predictions(after=after, count=1000)):
        found += [p for p in page if p.confidence < _threshold(report, p.type)]
        after = page[-1].logo_id
    clustered = quests.quests.cluster_ids_of([p.logo_id for p in found])
    groups: dict[tuple[str, str | None], list[Prediction]] = {}
    for p in found:
        if p.logo_id not in clustered:
            groups.setdefault((p.type, p.value), []).append(p)
    ranked = sorted(groups.items(), key=lambda g: (-len(g[1]), g[0][0], g[0][1] or ""))
    out = []
    for (kind, value), members in ranked:
        members.sort(key=lambda p: (_threshold(report, kind) - p.confidence, p.logo_id))
        shown = members[:GROUP]
        ids = tuple(p.logo_id for p in shown)
        out.append(Suggestion(ids[0], "near_threshold", len(shown), None, shown[0].confidence, ids, kind, value))
    return out
