"""Robotoff-compatible ANN routes (``/api/v1/ann/search``): same paths, parameters and shapes."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, request

from common.api.app import search_service
from common.api.paging import RankedCache, neighbours_body
from common.api.params import count_param, id_value
from common.domain import Neighbour


def results_body(neighbours: list[Neighbour], query_logo_id: int | None) -> dict[str, Any]:
    return {
        "results": [{"logo_id": n.logo_id, "distance": n.distance} for n in neighbours],
        "count": len(neighbours),
        "query_logo_id": query_logo_id,
    }


def ranked_cache() -> RankedCache:
    return current_app.extensions["logo_ann_ranked"]  # type: ignore[no-any-return]


def register(app: Flask) -> None:
    app.extensions["logo_ann_ranked"] = RankedCache()

    @app.get("/api/v1/ann/search/<logo_id>")
    def ann_search(logo_id: str) -> Any:
        """Nearest neighbours of a logo, ascending distance, the logo itself excluded.

        Optional filters (``annotated``, ``label``, ``image_id``) and pagination (``paginate=true``
        or ``cursor``) are handled by ``common.api.paging``.
        """
        query = id_value(logo_id)
        return jsonify(neighbours_body(search_service(), ranked_cache(), query, request.args))

    @app.get("/api/v1/ann/search")
    def ann_search_random() -> Any:
        """The same for a random logo that has an embedding."""
        count_param(request.args)  # a bad count is a 400 even when the index is empty
        service = search_service()
        query = service.random_logo()
        if query is None:
            return jsonify(results_body([], None))
        return jsonify(neighbours_body(service, ranked_cache(), query, request.args))
