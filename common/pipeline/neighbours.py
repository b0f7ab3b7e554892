"""Stored nearest-neighbour lists (Robotoff's ``nearest_neighbors``), kept fresh.

Robotoff computes a logo's list once and never refreshes it. Here, when a new logo is closer
to an existing logo than that logo's current k-th stored neighbour, the existing list is
updated too. The candidates for that reverse update are the new logo's own
``candidates`` nearest neighbours: an existing logo further away than those is, in
practice, not one whose top-k the new logo enters (kNN is not symmetric, so this is a
bounded approximation; ``logo-ann reindex --neighbours`` recomputes every list exactly).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from common.ports.metadata_store import MetadataStore
from common.ports.vector_index import VectorIndex


class NeighbourLists:
    def __init__(self, store: MetadataStore, index: VectorIndex, k: int, candidates: int) -> None:
        self.store = store
        self.index = index
        self.k = k
        self.candidates = max(k, candidates)

    def update_for_new(self, logo_ids: Sequence[int], vectors: np.ndarray) -> set[int]:
        """Store each new logo's k neighbours, and enter it into its neighbours' lists;
        returns the existing logos whose lists changed."""
        offers: dict[int, list[tuple[float, int]]] = defaultdict(list)
        new = set(logo_ids)
        for logo_id, vector in zip(logo_ids, vectors, strict=True):
            found = self.index.search(vector, self.candidates, exclude=logo_id)
            top = found[: self.k]
            self.store.set_neighbours(logo_id, [n.logo_id for n in top], [n.distance for n in top])
            for n in found:
                if n.logo_id not in new:
                    offers[n.logo_id].append((n.distance, logo_id))
        return self._merge_offers(offers)

    def recompute(self, logo_ids: Sequence[int]) -> int:
        """Recompute the lists of these logos from the index; returns how many were written."""
        vectors = self.store.get_embeddings(logo_ids)
        for logo_id, vector in vectors.items():
            top = self.index.search(vector, self.k, exclude=logo_id)
            self.store.set_neighbours(logo_id, [n.logo_id for n in top], [n.distance for n in top])
        return len(vectors)

    def _merge_offers(self, offers: dict[int, list[tuple[float, int]]]) -> set[int]:
        touched: set[int] = set()
        if not offers:
            return touched
        current = self.store.get_neighbours(list(offers))
        for logo_id, offered in offers.items():
            existing = current.get(logo_id)
            if existing is None:
                continue  # this logo never had a list: leave it to a full recompute
            pairs = {i: d for i, d in zip(existing["logo_ids"], existing["distances"], strict=True)}
            full = len(pairs) >= self.k
            kth = max(pairs.values()) if full and pairs else float("inf")
            changed = False
            for distance, new_id in offered:
                if new_id not in pairs and (not full or distance < kth):
                    pairs[new_id] = distance
                    changed = True
            if changed:
                best = sorted(pairs.items(), key=lambda item: (item[1], item[0]))[: self.k]
                self.store.set_neighbours(logo_id, [i for i, _ in best], [d for _, d in best])
                touched.add(logo_id)
        return touched
