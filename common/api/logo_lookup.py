"""Robotoff's LogoDetails looked up for the routes that answer them (one logo, many logos)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.api.context import container
from common.api.label_details import with_predictions
from common.api.logo_details import many_logo_details


def annotations_of(logo_ids: Sequence[int]) -> Mapping[int, Any]:
    """Each logo's annotation from the annotation store, when the container has one."""
    store = getattr(container(), "annotations", None)
    return store.get_annotations(logo_ids) if store is not None and logo_ids else {}


def robotoff_logos(logo_ids: Sequence[int]) -> list[dict[str, Any]]:
    """LogoDetails of the logos that exist, in the order asked for: three queries in all."""
    store = container().store
    logos = store.get_logos(logo_ids)
    images = store.get_images([logo.image_id for logo in logos])
    return with_predictions(many_logo_details(logos, images, annotations_of([logo.id for logo in logos])))
