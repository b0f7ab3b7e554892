"""Search by uploaded image and by embedding (what Robotoff's ANN API lacks)."""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, jsonify, request

from common.api.bodies import match_json, neighbours_json, stored_body
from common.api.context import container, search_service, token_error
from common.api.params import bool_param, count_param, json_object, uploaded_bytes
from common.errors import BadQuery

SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")

blueprint = Blueprint("search", __name__)


def embedding_values(body: dict[str, Any]) -> list[float]:
    """The ``embedding`` array of a request body: plain JSON numbers only."""
    raw = body.get("embedding")
    if not isinstance(raw, list) or not raw:
        raise BadQuery("'embedding' must be a non-empty JSON array of numbers")
    values: list[float] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadQuery(f"'embedding' must hold only numbers, got {str(value)[:40]!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise BadQuery("'embedding' values must be finite numbers (no NaN or Infinity)")
        values.append(number)
    peak = max(abs(v) for v in values)
    # the direction is all that counts: scaling to a peak of 1 keeps float32 from over- or underflowing
    return [v / peak for v in values] if peak > 0 else values


def store_upload(data: bytes, filename: str | None) -> tuple[dict[str, Any], bool]:
    """Keep the image and run the pipeline on it, like ``POST /api/v1/images``; True when it ran
    here (embedded), False when the platform runs it (cloud: only the reference comes back)."""
    done = container().intake().submit(data, filename, request.mimetype or None)
    if done.result is None:
        return stored_body(done.stored), False
    result = done.result
    body = {
        "image_id": result.image_id,
        "status": result.status,
        "error": result.error,
        "logo_ids": [logo.id for logo in result.logos],
    }
    return body, True


@blueprint.post("/api/v1/search/image")
def search_image() -> Any:
    """Every logo detected in the uploaded image, with its neighbours; stored only with ``store=true``."""
    count = count_param(request.args)
    store = bool(bool_param(request.args, "store"))
    if store and (denied := token_error()) is not None:
        return denied
    data, filename = uploaded_bytes()
    logos = [match_json(match) for match in search_service().by_image(data, count)]
    body: dict[str, Any] = {"logos": logos, "count": len(logos)}
    if not store:
        return jsonify(body)
    # after the search, so the image's own logos are not among its neighbours
    body["stored"], ran_here = store_upload(data, filename)
    return jsonify(body), (200 if ran_here else 202)


@blueprint.post("/api/v1/search/embedding")
def search_embedding() -> Any:
    """Neighbours of a vector of the index's dimension: ``{"embedding": [...], "count": N}``."""
    body = json_object(request.get_data(cache=False))
    values = embedding_values(body)
    count = count_param(body)
    neighbours = search_service().by_vector(values, count)
    results = neighbours_json(neighbours)
    return jsonify({"results": results, "count": len(results)})
