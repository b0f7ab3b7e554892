"""Operator routes: rebuild or reconcile the ANN index (token required, see ``require_token``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from common.api.app import container, require_token
from common.api.params import bool_param, int_param
from common.pipeline.reconcile import reconcile, reindex, requeue

MAX_AGE_S = 30 * 24 * 3600


def register(app: Flask) -> None:
    @app.post("/api/v1/admin/reindex")
    @require_token
    def admin_reindex() -> Any:
        """Send every stored vector to the ANN index again and drop orphans."""
        c = container()
        index = c.fresh_index()
        sent = reindex(c.store, index)
        return jsonify({"vectors_sent": sent, "index_documents": index.count()})

    @app.post("/api/v1/admin/reconcile")
    @require_token
    def admin_reconcile() -> Any:
        """Repair the ANN index from the store; with ``requeue=true`` also send stalled work again."""
        c = container()
        wants_requeue = bool(bool_param(request.args, "requeue"))
        older_than = int_param(request.args, "older_than", 600, 0, MAX_AGE_S)
        body: dict[str, Any] = {}
        if wants_requeue:
            body["requeue"] = requeue(c.detect_deps(), older_than_s=older_than).as_dict()
        body.update(reconcile(c.store, c.fresh_index()).as_dict())
        return jsonify(body)


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
    security: list[dict[str, list[str]]] = [{"bearer": []}]
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
                "responses": {"200": report, **responses},
                "security": security,
            }
        },
        "/api/v1/admin/reconcile": {
            "post": {
                "summary": "Repair the ANN index (and with requeue, stalled images)",
                "parameters": [flag, age],
                "responses": {"200": report, **responses},
                "security": security,
            }
        },
    }
