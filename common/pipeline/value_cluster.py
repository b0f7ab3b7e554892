"""Use case: a value's cluster, Hunger Games' deep search in one request.

The references are the logos annotated with the value. Each is searched in the index (not only
its stored top 10), ``k`` neighbours at first; every unannotated logo found keeps its smallest
distance to a reference and that reference. A logo missing from every reference's top ``k``
lies at least as far as the nearest ``k``-th neighbour of a reference whose list was full (the
*horizon*), so the candidates closer than the horizon are exact and in order. When they do not
fill the page, ``k`` doubles (up to ``MAX_K``). Logos with a negative for the value are left out.
Each reference's neighbours are kept (``NeighbourCache``) until an embedding is added or removed.

The ranking is by ``(distance, logo_id)``; a page ends at a position that the next page starts
after (the cursor), so pages neither repeat nor skip while the annotations stay as they are.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Mapping

import numpy as np
from cachetools import LRUCache

from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore
from common.ports.vector_index import BatchSearch, VectorIndex
from common.records.annotations import LogoQuery
from common.thread_pools import shared_pool

MAX_REFERENCES = 1000
MAX_K = 4096
SEARCH_THREADS = 4


@dataclasses.dataclass(frozen=True)
class Candidate:
    logo_id: int
    distance: float
    nearest_reference_id: int

    def extra(self) -> dict[str, float | int]:
        """What a value cluster adds to the logo's details."""
        return {"distance": self.distance, "nearest_reference_id": self.nearest_reference_id}

    def position(self) -> tuple[float, int]:
        """Where the next page starts after (the cursor)."""
        return self.distance, self.logo_id


@dataclasses.dataclass(frozen=True)
class ValuePage:
    references: int
    logos: list[Candidate]
    more: bool  # a next page may exist (the cursor is the last logo's position)


class NeighbourCache:
    """Each reference's ``k`` nearest neighbours, as arrays, for the index generation they were
    searched at (the store's embedding change sequence: annotations do not change them), so the
    next page, or the same value after an annotation, searches only the new references."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._found: LRUCache[tuple[int, int], tuple[int, np.ndarray, np.ndarray]] = LRUCache(maxsize=max_entries)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, key: tuple[int, int], generation: int) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            found = self._found.get(key)
        if found is None or found[0] != generation:
            return None
        return found[1], found[2]

    def put(self, key: tuple[int, int], generation: int, ids: np.ndarray, distances: np.ndarray) -> None:
        with self._lock:
            if self.max_entries:
                self._found[key] = (generation, ids, distances)


def neighbours_of(index: VectorIndex, vectors: Mapping[int, np.ndarray], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each stored logo's ``k`` nearest (ids, distances), itself left out, in ``vectors``' order:
    one batched search where the index has one (``BatchSearch``: no Python per query, the
    engine's threads), else one ``search`` per logo, a few at once (an index search leaves the
    interpreter while it walks the graph)."""
    if not vectors:
        return []
    if isinstance(index, BatchSearch):
        return index.search_many(np.stack(list(vectors.values())), k, list(vectors))

    def search(item: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        near = index.search(item[1], k, exclude=item[0])
        ids = np.fromiter((n.logo_id for n in near), np.int64, len(near))
        return ids, np.fromiter((n.distance for n in near), np.float64, len(near))

    return list(shared_pool("value-cluster", SEARCH_THREADS).map(search, vectors.items()))


class ValueClusters:
    def __init__(
        self,
        store: MetadataStore,
        notes: AnnotationStore,
        index: Callable[[], VectorIndex],
        cache: NeighbourCache | None = None,
    ) -> None:
        self.store = store
        self.notes = notes
        self.index = index
        self.cache = cache or NeighbourCache(0)

    def page(self, query: LogoQuery, count: int, after: tuple[float, int] | None) -> ValuePage:
        refs, _ = self.notes.search_logos(dataclasses.replace(query, annotated=True, count=MAX_REFERENCES))
        if not refs:
            return ValuePage(0, [], False)
        banned = self._negatives(refs)
        k = min(count + 16, MAX_K)
        while True:
            ids, distances, owners, horizon = self._neighbours(refs, k)
            keep = ~np.isin(ids, np.asarray(refs + sorted(banned), dtype=np.int64))
            ids, distances, owners = ids[keep], distances[keep], owners[keep]
            order = np.lexsort((owners, ids, distances))  # by distance, then id, then reference
            ids, distances, owners = ids[order], distances[order], owners[order]
            _, first = np.unique(ids, return_index=True)  # each logo at its smallest distance
            first.sort()
            ids, distances, owners = ids[first], distances[first], owners[first]
            wanted = np.ones(len(ids), bool)
            if after is not None:
                wanted = (distances > after[0]) | ((distances == after[0]) & (ids > after[1]))
            if k < MAX_K:  # at the largest k, the candidates past the horizon too (approximate order there)
                wanted &= distances < horizon
            chosen = np.flatnonzero(wanted)
            kept = self._unannotated((ids[chosen], distances[chosen], owners[chosen]), count + 1)
            if len(kept) > count or horizon == math.inf or k >= MAX_K:
                logos = [Candidate(i, d, r) for d, i, r in kept[:count]]  # exact: the cursor resumes after it
                return ValuePage(len(refs), logos, len(kept) > count)
            k = min(2 * k, MAX_K)

    def _neighbours(self, refs: list[int], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Every reference's ``k`` nearest (ids, distances, reference) and the horizon."""
        generation = self.store.last_change_seq()
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for ref in refs:
            hit = self.cache.get((ref, k), generation)
            if hit is not None:
                found[ref] = hit
        missing = [r for r in refs if r not in found]
        if missing:
            vectors = self.store.get_embeddings(missing)
            for ref, near in zip(vectors, neighbours_of(self.index(), vectors, k), strict=True):
                self.cache.put((ref, k), generation, *near)
                found[ref] = near
        horizon = min((float(d[-1]) for i, d in found.values() if len(i) >= k), default=math.inf)
        if not found:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), math.inf
        ids = np.concatenate([i for i, _ in found.values()])
        distances = np.concatenate([d for _, d in found.values()])
        owners = np.concatenate([np.full(len(i), ref, np.int64) for ref, (i, _) in found.items()])
        return ids, distances, owners, horizon

    def _negatives(self, refs: list[int]) -> set[int]:
        keys = {a.key for a in self.notes.get_annotations(refs[:50]).values() if a.key is not None}
        banned: set[int] = set()
        for kind, value in keys:
            banned |= self.notes.logos_negative_for(kind, value or "")
        return banned

    def _unannotated(
        self, ranked: tuple[np.ndarray, np.ndarray, np.ndarray], wanted: int
    ) -> list[tuple[float, int, int]]:
        """The first ``wanted`` of ``ranked`` (ids, distances, references) that have no annotation,
        looked up a chunk at a time."""
        ids, distances, owners = ranked
        kept: list[tuple[float, int, int]] = []
        step = max(wanted, 32)
        for start in range(0, len(ids), step):
            chunk = [int(i) for i in ids[start : start + step]]
            known = self.notes.get_annotations(chunk)
            for j, logo_id in enumerate(chunk, start=start):
                if logo_id in known and not known[logo_id].annotated:
                    kept.append((float(distances[j]), logo_id, int(owners[j])))
            if len(kept) >= wanted:
                break
        return kept[:wanted]
