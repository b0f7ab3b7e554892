"""Reading what the annotations and the neighbour graph hold, page by page (quests, suspects)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.labels.vote import Key
from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore

BATCH = 5000


def pairs(doc: Mapping[str, Any] | None) -> list[tuple[int, float]]:
    """A stored ``nearest_neighbors`` document as ``(logo_id, distance)`` pairs."""
    if not doc:
        return []
    return [(int(i), float(d)) for i, d in zip(doc.get("logo_ids", []), doc.get("distances", []), strict=False)]


def annotated_keys(notes: AnnotationStore) -> dict[int, Key]:
    """Every annotated logo's vote key (type, canonical value)."""
    found: dict[int, Key] = {}
    after = 0
    while rows := notes.annotated_logos(after=after, count=BATCH * 2):
        found.update((logo_id, a.key) for logo_id, a in rows if a.key is not None)
        after = rows[-1][0]
    return found


def lists_of(store: MetadataStore, ids: Sequence[int]) -> dict[int, list[tuple[int, float]]]:
    """The stored neighbour lists of those of ``ids`` that have one."""
    found: dict[int, list[tuple[int, float]]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), BATCH):
        found.update((i, pairs(doc)) for i, doc in store.get_neighbours(ordered[start : start + BATCH]).items())
    return found


def all_lists(store: MetadataStore, notes: AnnotationStore) -> dict[int, list[tuple[int, float]]]:
    """Every stored neighbour list."""
    found: dict[int, list[tuple[int, float]]] = {}
    after = 0
    while ids := notes.logos_with_neighbours(after=after, count=BATCH):
        found.update(lists_of(store, ids))
        after = ids[-1]
    return found
