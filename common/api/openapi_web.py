"""The OpenAPI entries the annotation page relies on beside the quests' (``routes_corrections``'
operation list, ``routes_web``'s value completions); ``openapi_quests`` merges them in."""

from __future__ import annotations

from typing import Any

from common.api.openapi_schemas import nullable, obj, query, ref
from common.labels.values import ALIASES, TYPES

JSON = "application/json"
CURSOR = query("cursor", {"type": "string", "maxLength": 400}, "next_cursor of the previous page")
COUNTED = {"type": "integer", "minimum": 0}

SCHEMAS: dict[str, Any] = {
    "OperationPage": obj(
        {
            "operations": {"type": "array", "items": ref("Operation")},
            "count": COUNTED,
            "next_cursor": nullable(CURSOR["schema"]),
        }
    ),
    "Completions": obj(
        {
            "values": {
                "type": "array",
                "items": obj(
                    {
                        "type": {"type": "string"},
                        "value": {"type": "string"},
                        "canonical": {"type": "string"},
                        "logos": COUNTED,
                        "source": {"type": "string", "enum": ["used", "taxonomy"]},
                    }
                ),
            },
            "count": COUNTED,
            "taxonomy_error": nullable({"type": "string"}),
        }
    ),
}


def _get(summary: str, schema: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    error = {"description": "bad parameter, or a dependency unavailable", "content": {JSON: {"schema": ref("Error")}}}
    ok = {"description": "a page", "content": {JSON: {"schema": ref(schema)}}}
    return {"get": {"summary": summary, "parameters": parameters, "responses": {"200": ok, "400": error, "503": error}}}


def openapi_paths() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    return {
        "/api/v1/annotations/operations": _get(
            "Annotation operations, newest first, each with a sample of its logos",
            "OperationPage",
            [query("count", count, "page size"), CURSOR],
        ),
        "/api/v1/values/complete": _get(
            "Completions for a value: values already used (most used first), then taxonomy ids",
            "Completions",
            [
                query("type", {"type": "string", "enum": [*TYPES, *ALIASES]}, "annotation type"),
                query("q", {"type": "string", "maxLength": 200}, "what was typed"),
                query("count", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "at most"),
            ],
        ),
    }
