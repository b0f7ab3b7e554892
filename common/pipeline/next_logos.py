"""Use case: what to annotate next, the logos whose annotation would label the most others.

Two kinds of suggestion, merged by ``gain`` (the logos one annotation would label), largest first:

- ``cluster``: an unannotated cluster (``common.pipeline.quests``), its representative and its
  members; one cluster annotation labels them all;
- ``near_threshold``: the unannotated logos whose vote names one label (``type``, ``value``) but
  falls short of the type's calibrated threshold, the nearest to it first (at most ``GROUP``):
  the person confirms the right ones in one annotation, the validation queue of propagated labels.

A logo is suggested once: a cluster most of whose members a larger group already shows is left
out, and a group leaves out the members of a larger cluster. One suggestion per cluster or
label, so a page is spread over as many as it holds. The cursor is the offset in that ranking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from common.pipeline.propagate import Propagation
from common.pipeline.quests import Quests
from common.records.annotations import Prediction

SCAN = 20_000  # predictions read to rank those near the threshold
GROUP = 100  # logos shown of one predicted label


@dataclasses.dataclass(frozen=True)
class Suggestion:
    logo_id: int
    reason: str
    gain: int
    cluster_id: int | None = None
    confidence: float | None = None
    logo_ids: tuple[int, ...] = ()  # the logos the suggestion shows (a cluster's members, a group)
    type: str | None = None  # near_threshold: the label the group's votes name
    value: str | None = None


def _threshold(report: Mapping[str, Any] | None, kind: str) -> float:
    cut = (report or {}).get("thresholds", {}).get(kind, {}).get("threshold")
    return 1.0 if cut is None else float(cut)


def next_logos(
    quests: Quests, propagation: Propagation, count: int, offset: int
) -> tuple[list[Suggestion], int | None]:
    """A page of ``count`` suggestions from ``offset``, and the next page's offset (None: the end)."""
    wanted = offset + count + 1
    clusters = [
        Suggestion(c.representative_logo_id, "cluster", c.size, c.id, None, c.logo_ids)
        for c in quests.page(2, None, wanted)
    ]
    candidates = sorted(clusters + _near_threshold(propagation), key=lambda s: (-s.gain, s.reason, s.logo_id))
    ranked: list[Suggestion] = []
    shown: set[int] = set()
    for s in candidates:
        fresh = tuple(i for i in s.logo_ids if i not in shown)
        if s.reason == "cluster" and 2 * len(fresh) <= len(s.logo_ids):
            continue
        if s.reason != "cluster":
            if not fresh:
                continue
            s = dataclasses.replace(s, logo_id=fresh[0], logo_ids=fresh, gain=len(fresh))
        shown.update(s.logo_ids)
        ranked.append(s)
        if len(ranked) >= wanted:
            break
    ranked.sort(key=lambda s: (-s.gain, s.reason, s.logo_id))
    page = ranked[offset : offset + count]
    return page, (offset + count if len(ranked) > offset + count else None)


def _near_threshold(propagation: Propagation) -> list[Suggestion]:
    """Predictions below their type's threshold grouped by label, each group's logos nearest the
    threshold first."""
    report = propagation.report()
    found: list[Prediction] = []
    after = 0
    while len(found) < SCAN and (page := propagation.notes.list_predictions(after=after, count=1000)):
        found += [p for p in page if p.confidence < _threshold(report, p.type)]
        after = page[-1].logo_id
    groups: dict[tuple[str, str | None], list[Prediction]] = {}
    for p in found:
        groups.setdefault((p.type, p.value), []).append(p)
    out = []
    for (kind, value), members in groups.items():
        members.sort(key=lambda p: (_threshold(report, kind) - p.confidence, p.logo_id))
        shown = members[:GROUP]
        ids = tuple(p.logo_id for p in shown)
        out.append(Suggestion(ids[0], "near_threshold", len(shown), None, shown[0].confidence, ids, kind, value))
    return out
