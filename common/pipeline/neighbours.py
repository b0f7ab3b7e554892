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

from common.domain import Neighbour
from common.ports.metadata_store import MetadataStore
from common.ports.vector_index import VectorIndex
from common.records.logos import NeighbourList


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
        lists: list[NeighbourList] = []
        for logo_id, vector in zip(logo_ids, vectors, strict=True):
            found = self.index.search(vector, self.candidates, exclude=logo_id)
            lists.append(neighbour_list(logo_id, found[: self.k]))
            for n in found:
                if n.logo_id not in new:
                    offers[n.logo_id].append((n.distance, logo_id))
        merged = self._merge_offers(offers)
        self.store.set_neighbours_many(lists + merged)  # every list of the message: one transaction
        return {item.logo_id for item in merged}

    def recompute(self, logo_ids: Sequence[int]) -> int:
        """Recompute the lists of these logos from the index; returns how many were written."""
        vectors = self.store.get_embeddings(logo_ids)
        lists = [neighbour_list(i, self.index.search(v, self.k, exclude=i)) for i, v in vectors.items()]
        self.store.set_neighbours_many(lists)
        return len(lists)

    def _merge_offers(self, offers: dict[int, list[tuple[float, int]]]) -> list[NeighbourList]:
        """The existing lists the offered new logos enter (to be written by the caller)."""
        touched: list[NeighbourList] = []
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
                touched.append(NeighbourList(logo_id, tuple(i for i, _ in best), tuple(d for _, d in best)))
        return touched


def neighbour_list(logo_id: int, found: Sequence[Neighbour]) -> NeighbourList:
    return NeighbourList(logo_id, tuple(n.logo_id for n in found), tuple(n.distance for n in found))
