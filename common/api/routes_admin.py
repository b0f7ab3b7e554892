"""Operator routes: rebuild or reconcile the ANN index (token required, see ``require_token``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from common.api.context import container, require_token
from common.api.params import MAX_AGE_S, bool_param, int_param
from common.pipeline.reconcile import reconcile, reindex, requeue

blueprint = Blueprint("admin", __name__)


@blueprint.post("/api/v1/admin/reindex")
@require_token
def admin_reindex() -> Any:
    """Send every stored vector to the ANN index again and drop orphans."""
    c = container()
    index = c.fresh_index()
    sent = reindex(c.store, index)
    return jsonify({"vectors_sent": sent, "index_documents": index.count()})


@blueprint.post("/api/v1/admin/reconcile")
@require_token
def admin_reconcile() -> Any:
    """Repair the ANN index from the store; with ``requeue=true`` also send stalled work again."""
    c = container()
    wants_requeue = bool(bool_param(request.args, "requeue"))
    older_than = int_param(request.args, "older_than", 600, 0, MAX_AGE_S)
    body: dict[str, Any] = {}
    if wants_requeue:
        body["requeue"] = requeue(c.detect_deps(), older_than_s=older_than, pipeline=c.pipeline()).as_dict()
    body.update(reconcile(c.store, c.fresh_index()).as_dict())
    return jsonify(body)
