"""Robotoff's logo annotation routes; every write needs a verified user (``require_user``).

- ``POST /api/v1/images/logos/annotate`` ``{"annotations": [{"logo_id", "type", "value"}]}``
  → ``{"annotated": n}``: logos that already have a type are skipped; an unknown id is 404 and
  nothing is written;
- ``PUT /api/v1/images/logos/{id}`` ``{"type", "value"}`` → 204 (a no-op when unchanged);
- ``POST /api/v1/images/logos/{id}/reset`` → 204;
- ``POST /api/v1/images/logos/update?source_type&source_value&target_type&target_value``
  → ``{"updated": n}`` (logos matched by value tag);
- ``GET /api/v1/images/logos/{id}/history`` → every change: who, when, before, after, and the
  operation it was part of.

Each write is one operation (``common.adapters.sql.operations``); its id is in the
``Operation-Id`` response header (the bodies keep Robotoff's shape), for
``POST /api/v1/annotations/operations/{id}/revert``.

Invalid values are 400 with the reason (``common.labels.values``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.api.auth import current_user, require_user
from common.api.context import container
from common.api.params import MAX_IDS, id_value, json_object
from common.errors import BadQuery, NotFoundError

blueprint = Blueprint("annotations", __name__)


def with_operation(response: Response, operation_id: int | None) -> Response:
    """Robotoff's answer, unchanged, with the write's operation id in the ``Operation-Id`` header."""
    if operation_id is not None:
        response.headers["Operation-Id"] = str(operation_id)
    return response


def _annotation_items(body: dict[str, Any]) -> list[tuple[int, object, object]]:
    raw = body.get("annotations")
    if not isinstance(raw, list) or not raw:
        raise BadQuery("'annotations' must be a non-empty list of {logo_id, type, value}")
    if len(raw) > MAX_IDS:
        raise BadQuery(f"'annotations' accepts at most {MAX_IDS} items, got {len(raw)}")
    items = []
    for item in raw:
        if not isinstance(item, dict) or not {"logo_id", "type", "value"} <= set(item):
            raise BadQuery("each annotation needs 'logo_id', 'type' and 'value' (null or \"\" for none)")
        if isinstance(item["logo_id"], bool) or not isinstance(item["logo_id"], int):
            raise BadQuery(f"'logo_id' must be an integer, got {str(item['logo_id'])[:40]!r}")
        items.append((id_value(item["logo_id"]), item["type"], item["value"]))
    ids = [i for i, _, _ in items]
    if len(set(ids)) != len(ids):
        raise BadQuery("each logo may appear once per request")
    return items


@blueprint.post("/api/v1/images/logos/annotate")
@require_user
def annotate() -> Any:
    """Annotate logos that have no type yet."""
    items = _annotation_items(json_object(request.get_data(cache=False)))
    annotator = container().annotator()
    annotated = annotator.annotate(items, current_user())
    return with_operation(jsonify({"annotated": annotated}), annotator.last_operation)


@blueprint.put("/api/v1/images/logos/<int:logo_id>")
@require_user
def update(logo_id: int) -> Any:
    """Set a logo's type and value (every derived field is recomputed)."""
    body = json_object(request.get_data(cache=False))
    if "type" not in body:
        raise BadQuery("the body needs 'type' (and 'value', null or \"\" for none)")
    annotator = container().annotator()
    annotator.update(id_value(logo_id), body["type"], body.get("value"), current_user())
    return with_operation(Response(status=204), annotator.last_operation)


@blueprint.post("/api/v1/images/logos/<int:logo_id>/reset")
@require_user
def reset(logo_id: int) -> Any:
    """Remove a logo's annotation."""
    annotator = container().annotator()
    annotator.reset(id_value(logo_id), current_user())
    return with_operation(Response(status=204), annotator.last_operation)


@blueprint.post("/api/v1/images/logos/update")
@require_user
def relabel() -> Any:
    """Give every logo annotated (source_type, source_value) the target label."""
    args = request.args
    for name in ("source_type", "target_type"):
        if not args.get(name):
            raise BadQuery(f"'{name}' is required")
    annotator = container().annotator()
    updated = annotator.relabel(
        args["source_type"], args.get("source_value"), args["target_type"], args.get("target_value"), current_user()
    )
    return with_operation(jsonify({"updated": updated}), annotator.last_operation)


@blueprint.get("/api/v1/images/logos/<int:logo_id>/history")
def history(logo_id: int) -> Any:
    """Every change of a logo's annotation, oldest first."""
    wanted = id_value(logo_id)
    c = container()
    if not c.store.get_logos([wanted]):
        raise NotFoundError(f"logo {wanted} does not exist")
    entries = [
        {
            "id": e.id,
            "username": e.username,
            "changed_at": e.changed_at,
            "action": e.action,
            "before": e.before,
            "after": e.after,
            "operation_id": e.operation_id,
        }
        for e in c.notes.history(wanted)
    ]
    return jsonify({"logo_id": wanted, "history": entries, "count": len(entries)})
