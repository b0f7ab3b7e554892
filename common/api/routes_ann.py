"""Robotoff-compatible ANN routes (``/api/v1/ann/search``): same paths, parameters and shapes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from common.api.bodies import results_body
from common.api.context import search_service, this_app
from common.api.paging import neighbours_body
from common.api.params import count_param, id_value
from common.pipeline.search import RankedCache

blueprint = Blueprint("ann", __name__)


def ranked_cache() -> RankedCache:
    """The app's ranked lists (one cache per app)."""
    return this_app().ranked


@blueprint.get("/api/v1/ann/search/<logo_id>")
def ann_search(logo_id: str) -> Any:
    """Nearest neighbours of a logo, ascending distance, the logo itself excluded.

    Optional filters (``annotated``, ``label``, ``image_id``) and pagination (``paginate=true``
    or ``cursor``) are handled by ``common.api.paging``.
    """
    query = id_value(logo_id)
    return jsonify(neighbours_body(search_service(), ranked_cache(), query, request.args))


@blueprint.get("/api/v1/ann/search")
def ann_search_random() -> Any:
    """The same for a random logo that has an embedding."""
    count_param(request.args)  # a bad count is a 400 even when the index is empty
    service = search_service()
    query = service.random_logo()
    if query is None:
        return jsonify(results_body([], None))
    return jsonify(neighbours_body(service, ranked_cache(), query, request.args))
