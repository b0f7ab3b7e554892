"""Use case: an object landed in storage → record the image and its logos, queue the crops."""

from __future__ import annotations

import dataclasses
import logging

from common.domain import ObjectRef
from common.errors import InvalidImageError, NotFoundError, PermanentError, TransientError
from common.inference.images import decode_image
from common.messages import CropLogo, CropsMessage
from common.observability import Timings
from common.pipeline.carry import carry_annotations
from common.pipeline.retry import handle_transient
from common.ports.annotation_store import AnnotationStore
from common.ports.image_store import ImageStore
from common.ports.metadata_store import DELETED, DETECTED, FAILED, INDEXED, SUPERSEDED, MetadataStore
from common.ports.models import LogoDetector
from common.ports.vector_index import VectorIndex
from common.ports.work_queue import WorkQueue
from common.records.logos import ImageRecord, LogoRecord

logger = logging.getLogger(__name__)

FINAL_STATES = (INDEXED, FAILED, DELETED, SUPERSEDED)


@dataclasses.dataclass
class DetectDeps:
    store: MetadataStore
    images: ImageStore
    detector: LogoDetector
    queue: WorkQueue
    index: VectorIndex
    max_image_bytes: int
    max_image_pixels: int
    max_attempts: int
    # after a first detection, annotations are carried over from older generations of the object
    # (``common.pipeline.carry``); None: not carried (the pipeline tests)
    notes: AnnotationStore | None = None


@dataclasses.dataclass
class DetectResult:
    image_id: int
    status: str
    error: str | None
    logos: list[LogoRecord]
    timings: Timings


def is_older(candidate: str, than: str, current: str | None) -> bool:
    """Whether generation ``candidate`` predates ``than``.

    Numeric generations (GCS) compare as numbers. Opaque tokens (an S3 ETag-derived version)
    have no order of their own: ``than`` is newer exactly when it is what storage holds now.
    """
    if candidate.isdigit() and than.isdigit():
        return int(candidate) < int(than)
    return candidate != than and than == current


def _current_generation(deps: DetectDeps, ref: ObjectRef, generations: list[str]) -> str | None:
    """What storage holds now; only asked when some generation is an opaque token."""
    if all(g.isdigit() for g in generations):
        return None
    found = deps.images.stat(ref.bucket, ref.name)
    return found.generation if found else None


def detect_object(ref: ObjectRef, size: int | None, content_type: str | None, deps: DetectDeps) -> DetectResult:
    """Idempotent on ``(bucket, name, generation)``: a repeated event changes nothing."""
    timings = Timings()
    with timings.stage("db"):
        image, _ = deps.store.upsert_image(ref, size, content_type)
    if image.status in FINAL_STATES:
        return result_of(deps, image.id, timings)
    if _superseded(deps, image):
        return result_of(deps, image.id, timings)
    try:
        logos = deps.store.logos_of_image(image.id)
        if image.status != DETECTED:
            logos = _run_detection(image, deps, timings)
        _publish(image, logos, deps, timings)
    except PermanentError as exc:
        deps.store.mark_image(image.id, FAILED, str(exc))
        logger.warning("image %s failed: %s", image.id, exc)
    except TransientError as exc:
        handle_transient(deps.store, image.id, exc, deps.max_attempts)
    return result_of(deps, image.id, timings)


def _run_detection(image: ImageRecord, deps: DetectDeps, timings: Timings) -> list[LogoRecord]:
    if image.size is not None and image.size > deps.max_image_bytes:
        raise InvalidImageError(f"image of {image.size} bytes exceeds the limit of {deps.max_image_bytes} bytes")
    with timings.stage("download"):
        try:
            data = deps.images.get(image.ref)
        except NotFoundError as exc:
            raise NotFoundError(f"the object is gone or was replaced before it could be read: {exc}") from exc
    with timings.stage("decode"):
        pixels = decode_image(data, max_pixels=deps.max_image_pixels, max_bytes=deps.max_image_bytes)
    with timings.stage("detect"):
        detections = deps.detector.detect(pixels)
    with timings.stage("db"):
        logos = deps.store.record_detections(image.id, pixels.width, pixels.height, detections, deps.detector.version)
        if deps.notes is not None and logos:
            carry_annotations(deps.store, deps.notes, image, logos)
        deps.store.mark_image(image.id, DETECTED if logos else INDEXED)
    return logos


def _publish(image: ImageRecord, logos: list[LogoRecord], deps: DetectDeps, timings: Timings) -> None:
    if not logos:
        return
    message = CropsMessage(
        image_id=image.id, image=image.ref, logos=tuple(CropLogo(logo.id, logo.box) for logo in logos)
    )
    with timings.stage("publish"):
        deps.queue.publish(message)


def _superseded(deps: DetectDeps, image: ImageRecord) -> bool:
    """Newest generation wins: retire older generations, ignore a late older one."""
    others = [o for o in deps.store.find_images(image.ref.bucket, image.ref.name) if o.id != image.id]
    if not others:
        return False
    mine = image.ref.generation
    current = _current_generation(deps, image.ref, [mine] + [o.ref.generation for o in others])
    if any(is_older(mine, o.ref.generation, current) and o.status != DELETED for o in others):
        deps.store.mark_image(image.id, SUPERSEDED, "a newer generation of the object exists")
        return True
    for other in others:
        if is_older(other.ref.generation, mine, current) and other.status not in (SUPERSEDED, DELETED):
            retire_image(deps.store, deps.index, other.id, SUPERSEDED, "replaced by a newer generation")
    return False


def retire_image(store: MetadataStore, index: VectorIndex, image_id: int, status: str, reason: str) -> list[int]:
    """Take an image's logos out of search (annotated logos keep their record)."""
    removed = store.delete_logos_of_image(image_id, keep_annotated=True)
    if removed:
        index.delete(removed)
        index.flush()
    store.mark_image(image_id, status, reason)
    return removed


def delete_object(ref: ObjectRef, deps: DetectDeps) -> list[int]:
    """``object.deleted``: retire the deleted generation and every older one."""
    images = deps.store.find_images(ref.bucket, ref.name)
    current = _current_generation(deps, ref, [ref.generation] + [i.ref.generation for i in images])
    removed: list[int] = []
    for image in images:
        gen = image.ref.generation
        if image.status != DELETED and (ref.generation in ("0", gen) or is_older(gen, ref.generation, current)):
            removed += retire_image(deps.store, deps.index, image.id, DELETED, "the object was deleted")
    return removed


def result_of(deps: DetectDeps, image_id: int, timings: Timings) -> DetectResult:
    """The image's outcome as the store has it now."""
    image = deps.store.get_image(image_id)
    assert image is not None
    logos = deps.store.logos_of_image(image_id) if image.status in (DETECTED, INDEXED) else []
    return DetectResult(image_id, image.status, image.error, logos, timings)
