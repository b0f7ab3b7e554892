"""The annotation and prediction operations of the OpenAPI document (``routes_annotations``,
``routes_label_search``), with their schemas."""

from __future__ import annotations

from typing import Any

from common.api import openapi_quests
from common.api.openapi_schemas import ID, nullable, obj, query, ref
from common.labels.values import ALIASES, TYPES

JSON = "application/json"
TYPE = {"type": "string", "enum": [*TYPES, *ALIASES]}
VALUE = nullable({"type": "string", "maxLength": 1000})
USER: list[dict[str, list[str]]] = [{"basic": []}, {"offSession": []}, {"bearer": []}]
ERRORS = {
    400: "bad parameter or body",
    401: "no credentials, or a wrong service token",
    403: "Open Food Facts did not recognise the credentials",
    404: "unknown logo",
    503: "a dependency (Product Opener's sign-in check, a taxonomy, the database) is unavailable",
}
LOGO_PATH = {"name": "logo_id", "in": "path", "required": True, "schema": ID, "example": 1}

SCHEMAS: dict[str, Any] = {
    "Prediction": obj(
        {
            "type": {"type": "string"},
            "value": nullable({"type": "string"}),
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "precision": nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "votes": {"type": "object"},
            "alternatives": {
                "type": "array",
                "items": obj(
                    {"type": {"type": "string"}, "value": nullable({"type": "string"}), "share": {"type": "number"}}
                ),
            },
            "accepted": {"type": "boolean"},
            "updated_at": {"type": "string"},
        },
        required=["type", "value", "confidence", "precision", "votes"],
    ),
    "LabelledLogo": obj(
        {
            "id": ID,
            "annotation_type": nullable({"type": "string"}),
            "annotation_value": nullable({"type": "string"}),
            "annotation_value_tag": nullable({"type": "string"}),
            "taxonomy_value": nullable({"type": "string"}),
            "username": nullable({"type": "string"}),
            "completed_at": nullable({"type": "string"}),
            "prediction": nullable(ref("Prediction")),
        },
        required=["id", "annotation_type", "annotation_value", "prediction"],
    ),
    "LabelledLogoList": obj(
        {"logos": {"type": "array", "items": ref("LabelledLogo")}, "count": {"type": "integer", "minimum": 0}},
        required=["logos", "count"],
    ),
    "AnnotateRequest": obj(
        {
            "annotations": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                "items": obj({"logo_id": ID, "type": TYPE, "value": VALUE}, required=["logo_id", "type", "value"]),
            }
        },
        required=["annotations"],
        example={"annotations": [{"logo_id": 1, "type": "brand", "value": "Coca-Cola"}]},
    ),
    "LabelRequest": obj({"type": TYPE, "value": VALUE}, required=["type"]),
    "History": obj(
        {
            "logo_id": ID,
            "count": {"type": "integer", "minimum": 0},
            "history": {
                "type": "array",
                "items": obj(
                    {
                        "id": {"type": "integer"},
                        "username": {"type": "string"},
                        "changed_at": {"type": "string"},
                        "action": {"type": "string"},
                        "before": nullable({"type": "object"}),
                        "after": nullable({"type": "object"}),
                        "operation_id": nullable(ID),
                    }
                ),
            },
        },
        required=["logo_id", "history", "count"],
    ),
    "PredictionPage": obj(
        {
            "predictions": {"type": "array", "items": {"allOf": [ref("Prediction")]}},
            "count": {"type": "integer", "minimum": 0},
            "next_cursor": nullable({"type": "string"}),
        },
        required=["predictions", "count", "next_cursor"],
    ),
    **openapi_quests.SCHEMAS,
}


def _answer(description: str, schema: str | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _op(summary: str, ok: dict[int, dict[str, Any]], errors: list[int], **extra: Any) -> dict[str, Any]:
    responses = {str(code): body for code, body in ok.items()}
    responses.update({str(code): _answer(ERRORS[code], "Error") for code in errors})
    return {"summary": summary, "responses": responses, **extra}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(schema)}}}


def _write_paths() -> dict[str, Any]:
    count = {"type": "object", "additionalProperties": {"type": "integer"}}
    counted = {"description": "how many logos changed", "content": {JSON: {"schema": count}}}
    relabel = [
        query("source_type", TYPE, "type of the logos to relabel", required=True),
        query("source_value", {"type": "string"}, "their value (compared by value tag)"),
        query("target_type", TYPE, "the new type", required=True),
        query("target_value", {"type": "string"}, "the new value"),
    ]
    writes = [400, 401, 403, 404, 503]
    return {
        "/api/v1/images/logos/annotate": {
            "post": _op(
                "Annotate logos without a type (Robotoff)",
                {200: counted},
                writes,
                requestBody=_body("AnnotateRequest"),
                security=USER,
            )
        },
        "/api/v1/images/logos/{logo_id}/reset": {
            "post": _op(
                "Remove a logo's annotation", {204: _answer("reset")}, writes, parameters=[LOGO_PATH], security=USER
            )
        },
        "/api/v1/images/logos/update": {
            "post": _op(
                "Relabel every logo with a (type, value)",
                {200: counted},
                [400, 401, 403, 503],
                parameters=relabel,
                security=USER,
            )
        },
    }


SEARCH_QUERIES = [
    query("count", {"type": "integer", "minimum": 1, "maximum": 2000, "default": 25}, "logos, 1..2000"),
    query("type", TYPE, "annotation type"),
    query("value", {"type": "string"}, "annotation value (compared by value tag; needs type)"),
    query("taxonomy_value", {"type": "string"}, "taxonomy id (needs type)"),
    query("barcode", {"type": "string"}, "product barcode"),
    query("annotated", {"type": "boolean"}, "only annotated (true) or unannotated (false) logos"),
    query("random", {"type": "boolean"}, "random order"),
    query("min_confidence", {"type": "number", "minimum": 0, "maximum": 1}, "minimum detector score"),
]
PREDICTION_QUERIES = [
    query("type", TYPE, "predicted type"),
    query("value", {"type": "string"}, "predicted value (taxonomy id or value tag)"),
    query("min_precision", {"type": "number", "minimum": 0, "maximum": 1}, "calibrated precision at least"),
    query("count", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"),
    query("cursor", {"type": "string", "pattern": "^[0-9]{1,19}$"}, "next_cursor of the previous page"),
]


def _read_paths() -> dict[str, Any]:
    return {
        "/api/v1/images/logos/search": {
            "get": _op(
                "Search logos by annotation, barcode, score (Robotoff)",
                {200: _answer("matching logos; count is the total", "LabelledLogoList")},
                [400, 503],
                parameters=SEARCH_QUERIES,
            )
        },
        "/api/v1/images/logos/predictions": {
            "get": _op(
                "Predicted labels, page by page",
                {200: _answer("a page", "PredictionPage")},
                [400, 503],
                parameters=PREDICTION_QUERIES,
            )
        },
        "/api/v1/images/logos/{logo_id}": {
            "get": _op(
                "One logo's details with its prediction (Robotoff)",
                {200: _answer("the logo", "LabelledLogo")},
                [400, 404, 503],
                parameters=[LOGO_PATH],
            ),
            "put": _op(
                "Set a logo's type and value",
                {204: _answer("done (or already so)")},
                [400, 401, 403, 404, 503],
                parameters=[LOGO_PATH],
                requestBody=_body("LabelRequest"),
                security=USER,
            ),
        },
        "/api/v1/images/logos/{logo_id}/history": {
            "get": _op(
                "Every change of a logo's annotation",
                {200: _answer("oldest first", "History")},
                [400, 404, 503],
                parameters=[LOGO_PATH],
            )
        },
    }


def _admin_paths() -> dict[str, Any]:
    report = {"description": "the calibration report", "content": {JSON: {"schema": {"type": "object"}}}}
    target = query("target_precision", {"type": "number", "minimum": 0.01, "maximum": 1}, "default: the setting")
    return {
        "/api/v1/admin/calibrate": {
            "post": {
                "summary": "Leave-one-out calibration of the vote; refreshes every prediction",
                "parameters": [target],
                "responses": {"200": report, **{str(c): _answer(ERRORS[c], "Error") for c in (400, 401, 403, 503)}},
                "security": [{"bearer": []}, {}],  # with no token set: requests from this machine
            }
        },
        "/api/v1/admin/calibration": {
            "get": _op("The latest calibration report", {200: report}, [404, 503]),
        },
    }


def openapi_paths() -> dict[str, Any]:
    return {**_write_paths(), **_read_paths(), **_admin_paths(), **openapi_quests.openapi_paths()}


def with_operations(paths: dict[str, Any]) -> dict[str, Any]:
    """``paths`` with these operations added (a path already there keeps its other methods)."""
    merged = dict(paths)
    for path, item in openapi_paths().items():
        merged[path] = {**merged.get(path, {}), **item}
    return merged
