"""Keep the ANN index equal to the metadata store (the source of truth).

``reconcile`` compares both and repairs the index: documents missing from it are added,
orphans (ids the store no longer has embeddings for) removed, stale vectors replaced. A store
vector that cannot be read (a slot-file record failing its crc after a power cut) is listed in
the report's ``vectors`` section, for an operator to re-embed or re-import; the index keeps its
copy of it.
``reindex`` re-sends every vector. Both work through the ``VectorIndex`` port, so they serve
the embedded index and Elasticsearch alike.

``requeue`` repairs the other way, on the store side: images whose pipeline stopped half-way
(``pending``: detect never finished; ``detected``: the crops message was lost, dead-lettered or
its embedding never finished) and that have not moved for a while get their work sent again
through the detect use case, which re-publishes their crops message. Both use cases are
idempotent, so re-sending work that was merely slow creates nothing twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

import numpy as np

from common.domain import StoredObject
from common.errors import TransientError
from common.pipeline.detect import DetectDeps, detect_object
from common.pipeline.linear import Pipeline
from common.ports.metadata_store import DETECTED, PENDING, ChecksVectors, MetadataStore
from common.ports.vector_index import VectorIndex
from common.records.logos import VectorCheck

logger = logging.getLogger(__name__)

STALE_TOLERANCE = 2e-2  # int8/quantised indexes return vectors within this of the original


@dataclasses.dataclass
class ReconcileReport:
    store_embeddings: int = 0
    index_documents_before: int = 0
    added: list[int] = dataclasses.field(default_factory=list)
    removed: list[int] = dataclasses.field(default_factory=list)
    refreshed: list[int] = dataclasses.field(default_factory=list)
    vectors: VectorCheck | None = None  # the store's own vectors, where it can check them

    def as_dict(self) -> dict[str, object]:
        vectors = {} if self.vectors is None else {"vectors": self.vectors.as_dict()}
        return {
            **vectors,
            "store_embeddings": self.store_embeddings,
            "index_documents_before": self.index_documents_before,
            "added": len(self.added),
            "removed": len(self.removed),
            "refreshed": len(self.refreshed),
            "in_sync": not (self.added or self.removed or self.refreshed),
        }


def reconcile(
    store: MetadataStore, index: VectorIndex, check_vectors: bool = True, batch_size: int = 2_000,
    advance: Callable[[int], object] | None = None,
) -> ReconcileReport:  # fmt: skip
    """``advance(n)`` is called after each batch of ``n`` stored embeddings (a progress line)."""
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
        if advance is not None:
            advance(len(ids))
    report.vectors = _check_store(store, report.store_embeddings)
    unreadable = set() if report.vectors is None else set(report.vectors.unreadable)
    orphans = sorted(in_index - seen - unreadable)
    if orphans:
        index.delete(orphans)
    report.removed = orphans
    index.flush()
    return report


def reindex(
    store: MetadataStore, index: VectorIndex, batch_size: int = 2_000, advance: Callable[[int], object] | None = None
) -> int:
    """Send every stored vector to the index again and drop orphans; returns the count."""
    return reconcile(store, index, check_vectors=False, batch_size=batch_size, advance=advance).store_embeddings


def _check_store(store: MetadataStore, read: int) -> VectorCheck | None:
    """Where the store has rows whose vectors were not read, find them (a second, full pass)."""
    if not isinstance(store, ChecksVectors):
        return None
    if store.embedding_count() > read:
        return store.check_vectors()
    return VectorCheck(read, [], store.vector_stats())


def _stale(index: VectorIndex, ids: list[int], matrix: np.ndarray) -> list[int]:
    present = index.get_vectors(ids)
    stale = []
    for i, logo_id in enumerate(ids):
        vector = present.get(logo_id)
        if vector is not None and float(np.max(np.abs(np.asarray(vector) - matrix[i]))) > STALE_TOLERANCE:
            stale.append(i)
    return stale


@dataclasses.dataclass
class RequeueReport:
    requeued: dict[int, str] = dataclasses.field(default_factory=dict)  # image id -> status afterwards
    errors: dict[int, str] = dataclasses.field(default_factory=dict)  # image id -> transient error

    def as_dict(self) -> dict[str, object]:
        statuses = sorted(set(self.requeued.values()))
        return {
            "requeued": len(self.requeued),
            "after": {status: sum(1 for s in self.requeued.values() if s == status) for status in statuses},
            "errors": len(self.errors),
        }


def requeue(
    deps: DetectDeps,
    older_than_s: float = 600.0,
    limit: int = 1000,
    pipeline: Pipeline | None = None,
) -> RequeueReport:
    """Send the work of stalled ``pending``/``detected`` images again (see the module docstring).

    ``pipeline`` runs the detect use case as the deployment does (``EmbeddedPipeline``: detect,
    then the crops messages it queued); by default ``detect_object`` over ``deps``.
    """
    report = RequeueReport()
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=max(0.0, older_than_s))
    for image in deps.store.stalled_images((PENDING, DETECTED), cutoff, limit):
        try:
            stored = StoredObject(image.ref, image.size, image.content_type)
            result = (
                pipeline.detect(stored)
                if pipeline is not None
                else detect_object(image.ref, image.size, image.content_type, deps)
            )
        except TransientError as exc:  # counted against the image; the next reconcile tries again
            report.errors[image.id] = str(exc)
            logger.warning("requeue of image %s failed: %s", image.id, exc)
            continue
        after = deps.store.get_image(image.id)
        report.requeued[image.id] = after.status if after is not None else result.status
    return report
