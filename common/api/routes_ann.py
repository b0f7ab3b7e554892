"""Robotoff-compatible ANN routes (``/api/v1/ann/search``): same paths, parameters and shapes."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from common.api.app import container
from common.api.params import count_param, id_value
from common.domain import Neighbour


def results_body(neighbours: list[Neighbour], query_logo_id: int | None) -> dict[str, Any]:
    return {
        "results": [{"logo_id": n.logo_id, "distance": n.distance} for n in neighbours],
        "count": len(neighbours),
        "query_logo_id": query_logo_id,
    }


def register(app: Flask) -> None:
    @app.get("/api/v1/ann/search/<logo_id>")
    def ann_search(logo_id: str) -> Any:
        """Nearest neighbours of a logo, ascending distance, the logo itself excluded."""
        query = id_value(logo_id)
        count = count_param(request.args)
        neighbours = container().search_service().by_logo(query, count)
        return jsonify(results_body(neighbours, query))

    @app.get("/api/v1/ann/search")
    def ann_search_random() -> Any:
        """The same for a random logo that has an embedding."""
        count = count_param(request.args)
        service = container().search_service()
        query = service.random_logo()
        if query is None:
            return jsonify(results_body([], None))
        return jsonify(results_body(service.by_logo(query, count), query))
