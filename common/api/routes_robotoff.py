"""Robotoff's logo routes at Robotoff's paths and shapes: one logo, many logos, crops by URL.

- ``GET /api/v1/images/logos/{id}``: one LogoDetails (``common.api.logo_details``);
- ``GET /api/v1/images/logos?logo_ids=``: ``{"logos": [LogoDetails], "count": n}`` (in
  ``routes_batch``, built by ``logo_lookup.robotoff_logos``), ids comma-separated and/or repeated;
- ``GET /api/v1/images/crop?image_url=&y_min=&x_min=&y_max=&x_max=``: JPEG (``common.pipeline.crops``),
  with ``ETag`` (a matching ``If-None-Match`` gets 304) and ``Cache-Control``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.api.context import container
from common.api.label_details import with_predictions
from common.api.logo_details import logo_details
from common.api.logo_lookup import annotations_of
from common.api.params import id_value
from common.domain import Box
from common.errors import BadQuery, FetchRefused, NotFoundError

blueprint = Blueprint("robotoff", __name__)
BOX_PARAMS = ("y_min", "x_min", "y_max", "x_max")
STORED_MAX_AGE_S = 7 * 86400  # a stored image's generation never changes
FETCHED_MAX_AGE_S = 86400


@blueprint.get("/api/v1/images/logos/<int:logo_id>")
def robotoff_logo(logo_id: int) -> Any:
    """One logo's LogoDetails (Robotoff's ``GET /images/logos/{id}``)."""
    wanted = id_value(logo_id)
    store = container().store
    logos = store.get_logos([wanted])
    if not logos:
        raise NotFoundError(f"logo {wanted} does not exist")
    logo = logos[0]
    body = logo_details(logo, store.get_image(logo.image_id), annotations_of([logo.id]).get(logo.id))
    return jsonify(with_predictions([body])[0])


def box_param(args: Mapping[str, Any]) -> Box:
    """The relative box of ``y_min, x_min, y_max, x_max`` (all required, in [0, 1], not empty)."""
    values = []
    for name in BOX_PARAMS:
        raw = args.get(name)
        if raw is None:
            raise BadQuery(f"'{name}' is required")
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise BadQuery(f"'{name}' must be a number, got {str(raw)[:40]!r}") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise BadQuery(f"'{name}' must be between 0 and 1, got {value}")
        values.append(value)
    y_min, x_min, y_max, x_max = values
    if y_max <= y_min or x_max <= x_min:
        raise BadQuery("the box is empty: y_max must exceed y_min and x_max must exceed x_min")
    return Box(y_min, x_min, y_max, x_max)


@blueprint.get("/api/v1/images/crop")
def robotoff_crop() -> Any:
    """A box of an image named by URL, as JPEG (Robotoff's ``GET /images/crop``)."""
    image_url = str(request.args.get("image_url") or "").strip()
    if not image_url:
        raise BadQuery("'image_url' is required")
    box = box_param(request.args)
    crops = container().crops
    try:
        source = crops.source(image_url)
        etag = source.etag(box)
        max_age = STORED_MAX_AGE_S if source.stored else FETCHED_MAX_AGE_S
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
        if request.if_none_match.contains(etag.strip('"')):
            return Response(status=304, headers=headers)
        return Response(crops.render(source, box), mimetype="image/jpeg", headers=headers)
    except FetchRefused as exc:
        raise FetchRefused(f"'image_url' is refused: {exc}") from exc
