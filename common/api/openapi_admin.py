"""The admin operations of the OpenAPI document (``common.api.routes_admin``)."""

from __future__ import annotations

from typing import Any

from common.api.params import MAX_AGE_S

LOOPBACK_NOTE = (
    "Needs Authorization: Bearer LOGO_ANN_API_TOKEN. When no token is configured, a request from the "
    "server's own machine (127.0.0.1 or ::1) needs none, and any other caller gets 403."
)


def openapi_paths() -> dict[str, Any]:
    """The admin operations of the OpenAPI document."""
    errors = {
        "400": "bad parameter",
        "401": "missing or wrong API token",
        "403": "no API token is configured and the request is not from this machine",
        "503": "a dependency is temporarily unavailable",
    }
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses = {code: {"description": text, "content": error_body} for code, text in errors.items()}
    report = {"description": "what was done", "content": {"application/json": {"schema": {"type": "object"}}}}
    # with no LOGO_ANN_API_TOKEN set, requests from the server's own machine need no token
    security: list[dict[str, list[str]]] = [{"bearer": []}, {}]
    age = {
        "name": "older_than",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_AGE_S, "default": 600},
    }
    flag = {"name": "requeue", "in": "query", "required": False, "schema": {"type": "boolean", "default": False}}
    return {
        "/api/v1/admin/reindex": {
            "post": {
                "summary": "Rebuild the ANN index from the metadata store",
                "description": LOOPBACK_NOTE,
                "responses": {"200": report, **responses},
                "security": security,
            }
        },
        "/api/v1/admin/reconcile": {
            "post": {
                "summary": "Repair the ANN index (and with requeue, stalled images)",
                "description": LOOPBACK_NOTE,
                "parameters": [flag, age],
                "responses": {"200": report, **responses},
                "security": security,
            }
        },
    }
