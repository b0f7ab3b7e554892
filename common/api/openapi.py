"""The OpenAPI 3 document of the search API, served at ``GET /api/v1/openapi.json``.

It is written by hand, next to the routes, and a test holds the two together: every Flask
route is in the document and every documented operation answers as documented under fuzzing.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify

from common.api import openapi_labels, openapi_robotoff
from common.api.context import container, this_app
from common.api.openapi_admin import openapi_paths
from common.api.openapi_schemas import (
    COUNT_QUERY,
    CURSOR_QUERY,
    FILTER_QUERIES,
    LOGO_ID_PATH,
    LOGO_IDS_QUERY,
    PAGINATE_QUERY,
    SCHEMAS,
    query,
    ref,
)
from common.errors import LogoAnnError

JSON = "application/json"
ERRORS = {
    400: "bad parameter or body",
    401: "missing or wrong API token",
    403: "no API token is configured and the request is not from this machine",
    404: "not found",
    413: "request body too large",
    422: "the image cannot be used (not an image, corrupt, too large)",
    503: "a dependency is temporarily unavailable",
}
BEARER: list[dict[str, list[str]]] = [
    {"bearer": []},
    {},
]  # with no LOGO_ANN_API_TOKEN set, only requests from the server's own machine may change state


def json_response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def operation(summary: str, ok: dict[int, dict[str, Any]], errors: list[int], **extra: Any) -> dict[str, Any]:
    responses: dict[str, Any] = {str(code): body for code, body in ok.items()}
    responses.update({str(code): json_response(ERRORS[code], "Error") for code in errors})
    return {"summary": summary, "responses": responses, **extra}


def json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(schema)}}}


def image_body() -> dict[str, Any]:
    binary = {"type": "string", "format": "binary", "minLength": 1}
    return {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": binary},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": binary}, "required": ["file"]}},
        },
    }


def _ann_paths() -> dict[str, Any]:
    search = json_response("neighbours by ascending distance, the query logo excluded", "SearchResults")
    return {
        "/api/v1/ann/search/{logo_id}": {
            "get": operation(
                "Nearest neighbours of a logo (Robotoff-compatible)",
                {200: search},
                [400, 404, 503],
                parameters=[LOGO_ID_PATH, COUNT_QUERY, *FILTER_QUERIES, PAGINATE_QUERY, CURSOR_QUERY],
            )
        },
        "/api/v1/ann/search": {
            "get": operation(
                "Nearest neighbours of a random logo (query_logo_id null when none has an embedding)",
                {200: search},
                [400, 503],
                parameters=[COUNT_QUERY, *FILTER_QUERIES, PAGINATE_QUERY],
            )
        },
        "/api/v1/ann/batch": {
            "post": operation(
                "Nearest neighbours of many logos",
                {200: json_response("neighbours per logo", "BatchResults")},
                [400, 413, 503],
                requestBody=json_body("BatchRequest"),
            )
        },
        "/api/v1/images/logos": {
            "get": operation(
                "Details of many logos (Robotoff's LogoDetails)",
                {200: json_response("the logos found", "RobotoffLogoList")},
                [400, 503],
                parameters=[LOGO_IDS_QUERY],
            )
        },
    }


def _search_paths() -> dict[str, Any]:
    store = query(
        "store",
        {"type": "boolean", "default": False},
        "also keep the image and run the pipeline on it (needs the API token when one is set)",
    )
    return {
        "/api/v1/search/image": {
            "post": operation(
                "Detect the logos of an uploaded image and search with each; nothing is stored unless asked",
                {
                    200: json_response("every detected logo with its neighbours", "ImageSearchResults"),
                    202: json_response(
                        "with store=true where the platform runs the pipeline (LOGO_ANN_PIPELINE=platform): "
                        "the search, and the stored object's reference",
                        "ImageSearchStored",
                    ),
                },
                [400, 401, 403, 413, 422, 503],
                parameters=[COUNT_QUERY, store],
                requestBody=image_body(),
                security=BEARER,
            )
        },
        "/api/v1/search/embedding": {
            "post": operation(
                "Nearest neighbours of a vector",
                {200: json_response("neighbours", "EmbeddingResults")},
                [400, 413, 503],
                requestBody=json_body("EmbeddingRequest"),
            )
        },
    }


def _logo_paths() -> dict[str, Any]:
    jpeg = {
        "description": "the crop as JPEG",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    }
    name = query("name", {"type": "string"}, "object name in the bucket (default: the file name or a hash)")
    return {
        "/api/v1/logos/{logo_id}": {
            "get": operation(
                "A logo: box, score, image, stored neighbours",
                {200: json_response("the logo", "LogoDetails")},
                [400, 404, 503],
                parameters=[LOGO_ID_PATH],
            )
        },
        "/api/v1/logos/{logo_id}/crop": {
            "get": operation(
                "The logo cut out of its image", {200: jpeg}, [400, 404, 422, 503], parameters=[LOGO_ID_PATH]
            )
        },
        "/api/v1/images": {
            "post": operation(
                "Store an image and run the pipeline on it",
                {
                    201: json_response("stored and processed", "UploadResult"),
                    202: json_response(
                        "stored; the platform runs the pipeline (LOGO_ANN_PIPELINE=platform)", "StoredObject"
                    ),
                    422: json_response("stored, but the image cannot be used", "UploadResult"),
                },
                [400, 401, 403, 413, 503],
                parameters=[name],
                requestBody=image_body(),
                security=BEARER,
            )
        },
    }


def _service_paths() -> dict[str, Any]:
    html = {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}
    asset = {
        "description": "a script or style sheet",
        "content": {"text/javascript": {"schema": {"type": "string"}}, "text/css": {"schema": {"type": "string"}}},
    }
    asset_name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    health = json_response("every dependency answers", "Health")
    return {
        "/health": {
            "get": operation(
                "Health of every dependency",
                {200: health, 503: json_response("some dependency does not answer", "Health")},
                [],
            )
        },
        "/api/v1/info": {
            "get": operation(
                "Embedding dimension, models and limits", {200: json_response("service facts", "Info")}, []
            )
        },
        "/api/v1/openapi.json": {
            "get": operation(
                "This document",
                {200: {"description": "OpenAPI 3 document", "content": {JSON: {"schema": {"type": "object"}}}}},
                [],
            )
        },
        "/": {"get": operation("The web page: browse a logo's neighbours as crops", {200: html}, [])},
        "/web/{name}": {"get": operation("An asset of the web page", {200: asset}, [404], parameters=[asset_name])},
    }


def document(dim: int | None = None) -> dict[str, Any]:
    """A fresh copy of the document (callers may change it); ``dim``: the index's dimension, which
    ``POST /api/v1/search/embedding`` requires of every vector."""
    spec = _document()
    if dim is not None:
        vector = spec["components"]["schemas"]["EmbeddingRequest"]["properties"]["embedding"]
        vector.update(minItems=dim, maxItems=dim, description=f"exactly {dim} values (the index's dimension)")
    return spec


def _document() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "openapi": "3.0.3",
            "info": {
                "title": "Logo-ANN search API",
                "version": "1.0.0",
                "description": (
                    "Nearest-neighbour search over logo embeddings. Distances are (1 - cosine) / 2 in [0, 1]. "
                    'Every error is JSON: {"error": message, "status": code}.'
                ),
            },
            "paths": openapi_labels.with_operations(
                {
                    **_ann_paths(),
                    **_search_paths(),
                    **_logo_paths(),
                    **_service_paths(),
                    **openapi_paths(),
                    **openapi_robotoff.openapi_paths(),
                }
            ),
            "components": {
                "schemas": {**SCHEMAS, **openapi_robotoff.SCHEMAS, **openapi_labels.SCHEMAS},
                "securitySchemes": openapi_robotoff.SECURITY_SCHEMES,
            },
        }
    )


blueprint = Blueprint("openapi", __name__)


@blueprint.get("/api/v1/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI 3 document of every route."""
    app = this_app()
    spec = app.openapi_document
    if spec is None:
        try:
            dim: int | None = container().embedding_dim()
        except LogoAnnError:  # no model nor embedding yet: the document without the dimension
            dim = None
        spec = app.openapi_document = document(dim)
    return jsonify(spec)
