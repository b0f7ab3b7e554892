"""Quests: clusters of unannotated look-alike logos, from the stored neighbour graph.

The rule, in three parts, each a pure function here:

- **Edges.** Two unannotated logos are linked when one lists the other among its stored nearest
  neighbours at a distance below the cut-off (``LOGO_ANN_CLUSTER_MAX_DISTANCE``). Annotated
  logos link nothing: a quest holds only work still to do.
- **Clusters.** The connected components of that graph with at least two logos.
- **Stable ids.** After a change, each new component keeps the id of the old cluster it shares
  the most logos with, provided that is more than half of the old cluster ("while most of its
  members stay"), and each old id goes to one component at most (largest overlap first); the
  others get a new id. A cluster that loses a member, gains a few or splits in two unequal parts
  keeps its id in its larger part; one whose members scatter does not.

The representative is the member nearest the cluster's mean direction; the radius is the largest
distance ``(1 - cos) / 2`` from it to a member.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Lists = Mapping[int, Sequence[tuple[int, float]]]


@dataclasses.dataclass(frozen=True)
class Draft:
    """A component, before it is stored: ``id`` is the old cluster id it keeps (None: a new one)."""

    id: int | None
    logo_ids: tuple[int, ...]


def adjacency(lists: Lists, eligible: set[int], max_distance: float) -> dict[int, set[int]]:
    """Undirected links between ``eligible`` logos closer than ``max_distance`` (either list)."""
    links: dict[int, set[int]] = {i: set() for i in eligible}
    for logo_id, found in lists.items():
        if logo_id not in eligible:
            continue
        for other, distance in found:
            if other != logo_id and other in eligible and distance < max_distance:
                links[logo_id].add(other)
                links[other].add(logo_id)
    return links


def components(links: Mapping[int, set[int]], min_size: int = 2) -> list[tuple[int, ...]]:
    """Connected components of at least ``min_size`` logos, each sorted, largest first."""
    seen: set[int] = set()
    found: list[tuple[int, ...]] = []
    for start in sorted(links):
        if start in seen:
            continue
        seen.add(start)
        stack, members = [start], []
        while stack:
            node = stack.pop()
            members.append(node)
            for other in links[node]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        if len(members) >= min_size:
            found.append(tuple(sorted(members)))
    return sorted(found, key=lambda c: (-len(c), c[0]))


def keep_ids(new: Iterable[tuple[int, ...]], old: Mapping[int, set[int]]) -> list[Draft]:
    """Give each new component the old id that most of that old cluster's members went to."""
    comps = list(new)
    member_of = {logo: cid for cid, members in old.items() for logo in members}
    overlaps: list[tuple[int, int, int]] = []  # (-overlap, component index, old id)
    for index, comp in enumerate(comps):
        shared: dict[int, int] = {}
        for logo in comp:
            cid = member_of.get(logo)
            if cid is not None:
                shared[cid] = shared.get(cid, 0) + 1
        overlaps += [(-n, index, cid) for cid, n in shared.items() if 2 * n > len(old[cid])]
    given: dict[int, int] = {}
    used: set[int] = set()
    for _, index, cid in sorted(overlaps):
        if index not in given and cid not in used:
            given[index] = cid
            used.add(cid)
    return [Draft(given.get(index), comp) for index, comp in enumerate(comps)]


def centre(vectors: np.ndarray) -> tuple[int, float]:
    """The row nearest the mean direction and the largest distance from it to a row."""
    mean = vectors.mean(axis=0)
    row = int(np.argmax(vectors @ mean))
    distances = (1.0 - vectors @ vectors[row]) / 2.0
    return row, float(max(0.0, distances.max()))
