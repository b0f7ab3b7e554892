"""Use case: a value's cluster, Hunger Games' deep search in one request.

The references are the logos annotated with the value. Each is searched in the index (not only
its stored top 10), ``k`` neighbours at first; every unannotated logo found keeps its smallest
distance to a reference and that reference. A logo missing from every reference's top ``k``
lies at least as far as the nearest ``k``-th neighbour of a reference whose list was full (the
*horizon*), so the candidates closer than the horizon are exact and in order. When they do not
fill the page, ``k`` doubles (up to ``MAX_K``). Logos with a negative for the value are left out.

The ranking is by ``(distance, logo_id)``; a page ends at a position that the next page starts
after (the cursor), so pages neither repeat nor skip while the annotations stay as they are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from common.ports.annotation_store import AnnotationStore, LogoQuery
from common.ports.metadata_store import MetadataStore
from common.ports.vector_index import VectorIndex

MAX_REFERENCES = 1000
MAX_K = 4096


@dataclasses.dataclass(frozen=True)
class Candidate:
    logo_id: int
    distance: float
    nearest_reference_id: int


@dataclasses.dataclass(frozen=True)
class ValuePage:
    references: int
    logos: list[Candidate]
    more: bool  # a next page may exist (the cursor is the last logo's position)


class ValueClusters:
    def __init__(self, store: MetadataStore, notes: AnnotationStore, index: Callable[[], VectorIndex]) -> None:
        self.store = store
        self.notes = notes
        self.index = index

    def page(self, query: LogoQuery, count: int, after: tuple[float, int] | None) -> ValuePage:
        refs, _ = self.notes.search_logos(dataclasses.replace(query, annotated=True, count=MAX_REFERENCES))
        vectors = self.store.get_embeddings(refs)
        if not vectors:
            return ValuePage(len(refs), [], False)
        banned = self._negatives(refs)
        index, reference_ids = self.index(), set(refs)
        k = min(max(2 * count, 64), MAX_K)
        while True:
            best: dict[int, tuple[float, int]] = {}
            horizon = math.inf
            for ref, vector in vectors.items():
                found = index.search(vector, k, exclude=ref)
                if len(found) >= k:
                    horizon = min(horizon, found[-1].distance)
                for n in found:
                    if n.logo_id in reference_ids or n.logo_id in banned:
                        continue
                    if n.logo_id not in best or (n.distance, ref) < best[n.logo_id]:
                        best[n.logo_id] = (n.distance, ref)
            ranked = sorted((d, i, r) for i, (d, r) in best.items() if after is None or (d, i) > after)
            exact = [c for c in ranked if c[0] < horizon]
            # at the largest k, the candidates past the horizon too (approximate order there)
            kept = self._unannotated(ranked if k >= MAX_K else exact, count + 1)
            if len(kept) > count or horizon == math.inf or k >= MAX_K:
                logos = [Candidate(i, round(d, 6), r) for d, i, r in kept[:count]]
                return ValuePage(len(refs), logos, len(kept) > count)
            k = min(2 * k, MAX_K)

    def _negatives(self, refs: list[int]) -> set[int]:
        keys = {a.key for a in self.notes.get_annotations(refs[:50]).values() if a.key is not None}
        banned: set[int] = set()
        for kind, value in keys:
            banned |= self.notes.logos_negative_for(kind, value or "")
        return banned

    def _unannotated(self, ranked: list[tuple[float, int, int]], wanted: int) -> list[tuple[float, int, int]]:
        """The first ``wanted`` of ``ranked`` that have no annotation (looked up a chunk at a time)."""
        kept: list[tuple[float, int, int]] = []
        step = max(wanted, 32)
        for start in range(0, len(ranked), step):
            chunk = ranked[start : start + step]
            known = self.notes.get_annotations([i for _, i, _ in chunk])
            kept += [c for c in chunk if c[1] in known and not known[c[1]].annotated]
            if len(kept) >= wanted:
                break
        return kept[:wanted]
