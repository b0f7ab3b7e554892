"""Keep the ANN index equal to the metadata store (the source of truth).

``reconcile`` compares both and repairs the index: documents missing from it are added,
orphans (ids the store no longer has embeddings for) removed, stale vectors replaced.
``reindex`` re-sends every vector. Both work through the ``VectorIndex`` port, so they serve
the embedded index and Elasticsearch alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from common.ports.metadata_store import MetadataStore
from common.ports.vector_index import VectorIndex

STALE_TOLERANCE = 2e-2  # int8/quantised indexes return vectors within this of the original


@dataclasses.dataclass
class ReconcileReport:
    store_embeddings: int = 0
    index_documents_before: int = 0
    added: list[int] = dataclasses.field(default_factory=list)
    removed: list[int] = dataclasses.field(default_factory=list)
    refreshed: list[int] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "store_embeddings": self.store_embeddings,
            "index_documents_before": self.index_documents_before,
            "added": len(self.added),
            "removed": len(self.removed),
            "refreshed": len(self.refreshed),
            "in_sync": not (self.added or self.removed or self.refreshed),
        }


def reconcile(store: MetadataStore, index: VectorIndex, check_vectors: bool = True,
              batch_size: int = 2_000) -> ReconcileReport:
    report = ReconcileReport()
    in_index = index.ids()
    report.index_documents_before = len(in_index)
    seen: set[int] = set()
    for ids, matrix in store.iter_embeddings(batch_size=batch_size):
        report.store_embeddings += len(ids)
        seen.update(ids)
        missing = [i for i, logo_id in enumerate(ids) if logo_id not in in_index]
        stale = _stale(index, ids, matrix) if check_vectors else []
        fix = sorted(set(missing) | set(stale))
        if fix:
            index.upsert([ids[i] for i in fix], matrix[fix])
        report.added += [ids[i] for i in missing]
        report.refreshed += [ids[i] for i in stale if ids[i] in in_index]
    orphans = sorted(in_index - seen)
    if orphans:
        index.delete(orphans)
    report.removed = orphans
    index.flush()
    return report


def reindex(store: MetadataStore, index: VectorIndex, batch_size: int = 2_000) -> int:
    """Send every stored vector to the index again and drop orphans; returns the count."""
    return reconcile(store, index, check_vectors=False, batch_size=batch_size).store_embeddings


def _stale(index: VectorIndex, ids: list[int], matrix: np.ndarray) -> list[int]:
    present = index.get_vectors(ids)
    stale = []
    for i, logo_id in enumerate(ids):
        vector = present.get(logo_id)
        if vector is not None and float(np.max(np.abs(np.asarray(vector) - matrix[i]))) > STALE_TOLERANCE:
            stale.append(i)
    return stale
