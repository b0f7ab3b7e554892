"""Use case: a crops message → embed the logos, store and index them, store neighbours."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from common.errors import NotFoundError, PermanentError, TransientError
from common.inference.images import crop_truncated, decode_image
from common.messages import CropsMessage
from common.observability import Timings
from common.pipeline.neighbours import NeighbourLists
from common.pipeline.propagate import Propagation
from common.pipeline.quests import Quests
from common.pipeline.retry import handle_transient
from common.ports.image_store import ImageStore
from common.ports.metadata_store import DETECTED, FAILED, INDEXED, PENDING, MetadataStore
from common.ports.models import CropEmbedder
from common.ports.vector_index import VectorIndex
from common.records.logos import LogoRecord

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class EmbedDeps:
    store: MetadataStore
    images: ImageStore
    embedder: CropEmbedder
    index: VectorIndex
    neighbours: NeighbourLists
    max_image_bytes: int
    max_image_pixels: int
    max_attempts: int
    # the logos indexed, and those whose neighbour lists changed, are re-voted (their predicted
    # labels) and their quests' clusters followed; None: neither (the pipeline tests)
    propagation: Propagation | None = None
    quests: Quests | None = None


@dataclasses.dataclass
class EmbedResult:
    image_id: int
    status: str
    embedded: list[int]
    indexed: list[int]
    timings: Timings


def embed_and_index(message: CropsMessage, deps: EmbedDeps) -> EmbedResult:
    """Idempotent: a repeated message creates no second embedding or index document."""
    timings = Timings()
    image = deps.store.get_image(message.image_id)
    if image is None or image.status not in (PENDING, DETECTED, INDEXED):
        status = "missing" if image is None else image.status
        logger.info("crops message for image %s ignored (status %s)", message.image_id, status)
        return EmbedResult(message.image_id, status, [], [], timings)
    wanted = {logo.logo_id for logo in message.logos}
    logos = [logo for logo in deps.store.logos_of_image(image.id) if logo.id in wanted]
    embedded: list[int] = []
    try:
        embedded = _embed_missing(image.ref, [logo for logo in logos if not logo.has_embedding], deps, timings)
        indexed = _index(logos, deps, timings)
        deps.store.mark_image(image.id, INDEXED)
    except PermanentError as exc:
        deps.store.mark_image(image.id, FAILED, str(exc))
        logger.warning("image %s failed: %s", image.id, exc)
        return EmbedResult(image.id, FAILED, embedded, [], timings)
    except TransientError as exc:
        handle_transient(deps.store, image.id, exc, deps.max_attempts)
        return EmbedResult(image.id, FAILED, embedded, [], timings)
    return EmbedResult(image.id, INDEXED, embedded, indexed, timings)


def _embed_missing(ref: object, logos: list[LogoRecord], deps: EmbedDeps, timings: Timings) -> list[int]:
    if not logos:
        return []
    with timings.stage("download"):
        try:
            data = deps.images.get(ref)  # type: ignore[arg-type]
        except NotFoundError as exc:
            raise NotFoundError(f"the object is gone or was replaced before its logos were cropped: {exc}") from exc
    with timings.stage("decode"):
        image = decode_image(data, max_pixels=deps.max_image_pixels, max_bytes=deps.max_image_bytes)
        crops = [crop_truncated(image, logo.box) for logo in logos]
    with timings.stage("embed"):
        vectors = deps.embedder.embed(crops)
    with timings.stage("db"):
        return deps.store.save_embeddings(
            [logo.id for logo in logos], vectors, deps.embedder.version, deps.embedder.recipe
        )


def _index(logos: list[LogoRecord], deps: EmbedDeps, timings: Timings) -> list[int]:
    with timings.stage("db"):
        stored = deps.store.get_embeddings([logo.id for logo in logos])
    if not stored:
        return []
    ids = sorted(stored)
    matrix = np.stack([stored[i] for i in ids]).astype(np.float32)
    with timings.stage("index"):
        deps.index.upsert(ids, matrix)
        deps.index.flush()
    with timings.stage("search"):
        touched = deps.neighbours.update_for_new(ids, matrix)
    if deps.propagation is not None or deps.quests is not None:
        changed = sorted(set(ids) | touched)
        with timings.stage("vote"):
            if deps.propagation is not None:
                deps.propagation.revote(changed)
            if deps.quests is not None:
                deps.quests.update(changed, citing=False)
    return ids
