"""JSON bodies of the API's answers, in Robotoff's shapes: neighbours, logos, images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.domain import Neighbour, StoredObject
from common.pipeline.search import ImageMatch
from common.records.logos import ImageRecord, LogoRecord


def neighbour_json(neighbour: Neighbour) -> dict[str, Any]:
    """One neighbour: ``{"logo_id": ..., "distance": ...}`` (every route answers this shape)."""
    return {"logo_id": neighbour.logo_id, "distance": neighbour.distance}


def neighbours_json(neighbours: Sequence[Neighbour]) -> list[dict[str, Any]]:
    return [neighbour_json(n) for n in neighbours]


def results_body(neighbours: Sequence[Neighbour], query_logo_id: int | None) -> dict[str, Any]:
    """Robotoff's ANN search answer."""
    return {"results": neighbours_json(neighbours), "count": len(neighbours), "query_logo_id": query_logo_id}


def match_json(match: ImageMatch) -> dict[str, Any]:
    """A logo found in a query image, with its neighbours (``/api/v1/search/image``)."""
    d = match.detection
    return {
        "bounding_box": d.box.as_list(),
        "score": d.score,
        "label": d.label,
        "results": neighbours_json(match.neighbours),
    }


def stored_body(stored: StoredObject) -> dict[str, Any]:
    """An upload left to the platform's pipeline (202): the stored object's reference."""
    ref = stored.ref
    image = {"bucket": ref.bucket, "name": ref.name, "generation": ref.generation}
    return {"status": "stored", "image": {**image, "size": stored.size, "content_type": stored.content_type}}


def image_body(image: ImageRecord | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {
        "id": image.id,
        "bucket": image.ref.bucket,
        "source_image": image.ref.name,
        "generation": image.ref.generation,
        "width": image.width,
        "height": image.height,
        "status": image.status,
    }


def logo_body(logo: LogoRecord, image: ImageRecord | None) -> dict[str, Any]:
    return {
        "id": logo.id,
        "bounding_box": logo.box.as_list(),
        "score": logo.score,
        "label": logo.label,
        "annotation_type": logo.annotation_type,
        "annotation_value": logo.annotation_value,
        "nearest_neighbors": logo.nearest_neighbors,
        "has_embedding": logo.has_embedding,
        "detector_version": logo.detector_version,
        "image": image_body(image),
    }
