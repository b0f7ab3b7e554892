"""Use case: keep the quests' clusters of unannotated look-alikes (``common.labels.clusters``) up to date.

- ``rebuild()``: every cluster from every stored neighbour list (once, on first read, or on demand);
- ``update(changed)``: logos were annotated, reset, or arrived with neighbour lists: only the
  clusters they touch are recomputed. The changed logos, the logos within the cut-off in their
  lists, and the logos that list them are gathered with every member of their clusters; the
  components of that set are computed again. No cluster outside it can change: a logo outside
  it linked to one inside would have been in the same cluster, or in the changed set;
- ``page(...)``: clusters largest first.

Updates run one at a time in a process (a lock); the clusters are derived data that ``rebuild``
restores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

from common.labels.clusters import Draft, adjacency, centre, components, keep_ids
from common.pipeline.labelled import BATCH, all_lists, annotated_keys, lists_of, pairs
from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore
from common.ports.quest_store import QuestStore
from common.records.quests import Cluster, ClusterWrite


class Quests:
    def __init__(self, store: MetadataStore, notes: AnnotationStore, quests: QuestStore, max_distance: float) -> None:
        self.store = store
        self.notes = notes
        self.quests = quests
        self.max_distance = max_distance
        self._lock = threading.Lock()

    def ensure_built(self) -> None:
        if not self.quests.clusters_built():
            self.rebuild()

    def rebuild(self) -> int:
        """Every cluster from scratch (old ids kept where most of their members stay); returns the count."""
        with self._lock:
            lists = all_lists(self.store, self.notes)
            eligible = set(lists) - set(annotated_keys(self.notes))
            old = self._old_clusters()
            drafts = keep_ids(components(adjacency(lists, eligible, self.max_distance)), old)
            self.quests.replace_clusters(sorted(old), self._writes(drafts), full=True)
            return len(drafts)

    def _old_clusters(self) -> dict[int, set[int]]:
        old: dict[int, set[int]] = {}
        after: tuple[int, int] | None = None
        while page := self.quests.list_clusters(2, after, BATCH):
            old.update((c.id, set(c.logo_ids)) for c in page)
            after = (page[-1].size, page[-1].id)
        return old

    def update(self, changed: Sequence[int], citing: bool = True) -> None:
        """Recompute the clusters the ``changed`` logos touch (nothing before the first build).
        ``citing=False``: the caller passes every logo whose list changed (new logos and the lists
        they entered), so the logos listing them need no lookup."""
        if not changed or not self.quests.clusters_built():
            return
        with self._lock:
            ids = sorted({int(i) for i in changed})
            lists = self.store.get_neighbours(ids)
            near = {o for doc in lists.values() for o, d in pairs(doc) if d < self.max_distance}
            affected = set(ids) | near | (set(self.notes.citing_logos(ids)) if citing else set())
            touched = set(self.quests.cluster_ids_of(sorted(affected)).values())
            old = {c.id: set(c.logo_ids) for c in self.quests.get_clusters(sorted(touched)).values()}
            region = affected.union(*old.values())
            own = self.notes.get_annotations(sorted(region))
            eligible = {i for i, a in own.items() if not a.annotated}
            found = lists_of(self.store, sorted(eligible))
            drafts = keep_ids(components(adjacency(found, eligible, self.max_distance)), old)
            kept = {d.id for d in drafts if d.id is not None}
            self.quests.replace_clusters(sorted(set(old) - kept), self._writes(drafts))

    def _writes(self, drafts: Iterable[Draft]) -> list[ClusterWrite]:
        drafts = list(drafts)
        members = sorted({i for d in drafts for i in d.logo_ids})
        vectors: dict[int, np.ndarray] = {}
        for start in range(0, len(members), BATCH):
            vectors.update(self.store.get_embeddings(members[start : start + BATCH]))
        writes = []
        for d in drafts:
            have = [i for i in d.logo_ids if i in vectors]
            rep, radius = d.logo_ids[0], 0.0
            if have:
                row, radius = centre(np.stack([vectors[i] for i in have]).astype(np.float32))
                rep = have[row]
            writes.append(ClusterWrite(d.id, d.logo_ids, rep, round(radius, 6)))
        return writes

    def page(self, min_size: int, after: tuple[int, int] | None, count: int) -> list[Cluster]:
        self.ensure_built()
        return self.quests.list_clusters(min_size, after, count)

    def get(self, cluster_id: int) -> Cluster | None:
        self.ensure_built()
        return self.quests.get_clusters([cluster_id]).get(int(cluster_id))
