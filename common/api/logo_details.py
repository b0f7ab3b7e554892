"""Robotoff's LogoDetails: every key Robotoff returns for a logo, with its nested ``image``.

    {"id", "index", "bounding_box", "score", "annotation_type", "annotation_value",
     "annotation_value_tag", "taxonomy_value", "username", "completed_at", "nearest_neighbors",
     "barcode", "source_image", "text", "server_type",
     "image": {"id", "barcode", "uploaded_at", "image_id", "source_image", "width", "height",
               "deleted", "server_type"}}

``barcode`` and ``source_image`` follow Open Food Facts' image identity (``common.off_images``);
the annotation keys come from the annotation store when one is given, else from the logo row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.records.logos import ImageRecord, LogoRecord

ANNOTATION_KEYS = (
    "annotation_type",
    "annotation_value",
    "annotation_value_tag",
    "taxonomy_value",
    "username",
    "completed_at",
)
IMAGE_KEYS = ("id", "barcode", "uploaded_at", "image_id", "source_image", "width", "height", "deleted", "server_type")
LOGO_KEYS = (
    "id",
    "index",
    "bounding_box",
    "score",
    *ANNOTATION_KEYS,
    "nearest_neighbors",
    "barcode",
    "source_image",
    "text",
    "server_type",
    "image",
)


def image_details(image: ImageRecord | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {
        "id": image.id,
        "barcode": image.barcode,
        "uploaded_at": image.uploaded_at,
        "image_id": image.off_image_id,
        "source_image": image.source_image if image.source_image is not None else "/" + image.ref.name,
        "width": image.width,
        "height": image.height,
        "deleted": image.deleted,
        "server_type": image.server_type,
    }


def annotation_fields(logo: LogoRecord, annotation: Any) -> dict[str, Any]:
    """The six annotation keys: from an ``Annotation`` (annotation store) or the logo row."""
    if annotation is None:
        return {**dict.fromkeys(ANNOTATION_KEYS), "annotation_type": logo.annotation_type,
                "annotation_value": logo.annotation_value}  # fmt: skip
    return {
        "annotation_type": annotation.type,
        "annotation_value": annotation.value,
        "annotation_value_tag": annotation.value_tag,
        "taxonomy_value": annotation.taxonomy_value,
        "username": annotation.username,
        "completed_at": annotation.completed_at,
    }


def logo_details(logo: LogoRecord, image: ImageRecord | None, annotation: Any = None) -> dict[str, Any]:
    nested = image_details(image)
    return {
        "id": logo.id,
        "index": logo.box_index,
        "bounding_box": logo.box.as_list(),
        "score": logo.score,
        **annotation_fields(logo, annotation),
        "nearest_neighbors": logo.nearest_neighbors,
        "barcode": nested["barcode"] if nested else None,
        "source_image": nested["source_image"] if nested else None,
        "text": logo.text,
        "server_type": nested["server_type"] if nested else "off",
        "image": nested,
    }


def many_logo_details(
    logos: Sequence[LogoRecord], images: Mapping[int, ImageRecord], annotations: Mapping[int, Any]
) -> list[dict[str, Any]]:
    return [logo_details(logo, images.get(logo.image_id), annotations.get(logo.id)) for logo in logos]
