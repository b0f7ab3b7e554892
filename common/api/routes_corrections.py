"""Corrections and undo, predictions people act on, value clusters and progress per value.

- ``GET /api/v1/annotations/operations?count&cursor`` → the operations, newest first (a sample of
  each one's logos);
- ``GET /api/v1/annotations/operations/{id}`` → the operation and the logos it touched;
- ``POST /api/v1/annotations/operations/{id}/revert`` (a verified user) → ``{"operation_id",
  "reverted", "restored", "skipped"}``: each logo back to its state before the operation, unless
  changed since (skipped); the revert is an operation too;
- ``POST /api/v1/images/logos/{id}/prediction/accept`` ``{"type"?, "value"?}`` → the prediction
  (or one of its alternatives) becomes the logo's annotation, one operation;
- ``POST /api/v1/images/logos/{id}/prediction/reject`` ``{"type"?, "value"?}`` → a negative
  "this logo is not V", which the vote and the value clusters respect;
- ``GET /api/v1/images/logos/suspects?count&cursor&min_confidence`` (``common.labels.suspects``);
- ``GET /api/v1/images/logos/value-cluster?type&value|taxonomy_value&count&cursor``
  (``common.pipeline.value_cluster``);
- ``GET /api/v1/values?type&count&cursor`` → per value: annotated, accepted predictions, candidates.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.api import keyset
from common.api.auth import current_user, require_user
from common.api.context import container, this_app
from common.api.label_details import prediction_json
from common.api.logo_lookup import robotoff_logos
from common.api.params import id_value, int_param, json_object
from common.errors import BadQuery, ConflictError, NotFoundError
from common.labels.values import normalise_type, value_tag
from common.pipeline.suspects import suspect_page
from common.pipeline.value_cluster import NeighbourCache, ValueClusters
from common.records.annotations import ACCEPT, LogoQuery, Negative, Operation

blueprint = Blueprint("corrections", __name__)
MAX_PAGE = 500


def with_operation(body: dict[str, Any], operation_id: int) -> Response:
    response = jsonify({"operation_id": operation_id, **body})
    response.headers["Operation-Id"] = str(operation_id)
    return response


@blueprint.get("/api/v1/annotations/operations")
def operations() -> Any:
    """Operations newest first, each with a sample of the logos it touched (``logo_ids``)."""
    count = int_param(request.args, "count", 50, 1, MAX_PAGE)
    after = keyset.decode(request.args.get("cursor"), "operations", (int,))
    found = container().notes.list_operations(None if after is None else int(after[0]), count + 1)
    shown = found[:count]
    rows = [operation_json(op) for op in shown]
    next_cursor = keyset.encode("operations", (shown[-1].id,)) if len(found) > count else None
    return jsonify({"operations": rows, "count": len(rows), "next_cursor": next_cursor})


def operation_json(found: Operation) -> dict[str, Any]:
    return {
        "id": found.id,
        "username": found.username,
        "action": found.action,
        "created_at": found.created_at,
        "params": found.params,
        "changed": found.changed,
        "logo_ids": found.logo_ids,
    }


@blueprint.get("/api/v1/annotations/operations/<int:operation_id>")
def operation(operation_id: int) -> Any:
    """An operation: who, when, what, and the logos it touched."""
    found = container().notes.get_operation(id_value(operation_id, "operation_id"))
    if found is None:
        raise NotFoundError(f"operation {operation_id} does not exist")
    return jsonify(operation_json(found))


@blueprint.post("/api/v1/annotations/operations/<int:operation_id>/revert")
@require_user
def revert(operation_id: int) -> Any:
    """Undo an operation, logo by logo, skipping those changed since."""
    c = container()
    done = c.notes.revert(id_value(operation_id, "operation_id"), current_user())
    c.propagation().push(done.restored)
    c.quests().update(done.restored)
    body = {"reverted": done.reverted, "restored": done.restored, "skipped": done.skipped}
    return with_operation(body, done.operation_id)


def _chosen(logo_id: int) -> tuple[str, str | None]:
    """The label the body names (it must be the prediction or one of its alternatives), else the prediction."""
    raw = request.get_data()
    body = json_object(raw) if raw.strip() else {}
    prediction = container().notes.get_predictions([logo_id]).get(logo_id)
    if prediction is None:
        raise NotFoundError(f"logo {logo_id} has no prediction")
    if "type" not in body:
        return prediction.type, prediction.value
    kind, value = normalise_type(body["type"]), body.get("value") or None
    offered = [(a["type"], a["value"]) for a in prediction.votes.get("alternatives", [])]
    offered.append((prediction.type, prediction.value))
    if (kind, value) not in offered:
        raise ConflictError("'type' and 'value' are neither the logo's prediction nor one of its alternatives")
    return kind, value


@blueprint.post("/api/v1/images/logos/<int:logo_id>/prediction/accept")
@require_user
def accept(logo_id: int) -> Any:
    """Make the logo's prediction (or one of its alternatives) its annotation."""
    wanted = id_value(logo_id)
    kind, value = _chosen(wanted)
    applied = container().annotator().set_label(wanted, kind, value, current_user(), ACCEPT)
    body = {"logo_id": wanted, "annotation": {"type": kind, "value": value}, "changed": bool(applied.changed)}
    return with_operation(body, applied.operation_id)


@blueprint.post("/api/v1/images/logos/<int:logo_id>/prediction/reject")
@require_user
def reject(logo_id: int) -> Any:
    """Record that the logo is not its predicted value (or the one named); it is voted again."""
    wanted = id_value(logo_id)
    kind, value = _chosen(wanted)
    c = container()
    applied = c.notes.add_negatives([Negative(wanted, kind, value or "")], current_user())
    c.propagation().revote([wanted])
    now = c.notes.get_predictions([wanted]).get(wanted)
    body = {
        "logo_id": wanted,
        "negative": {"type": kind, "value": value},
        "prediction": prediction_json(now, c.propagation().report()),
    }
    return with_operation(body, applied.operation_id)


@blueprint.get("/api/v1/images/logos/suspects")
def suspects() -> Any:
    """Annotated logos whose close neighbours confidently say otherwise, most confident first."""
    args = request.args
    count = int_param(args, "count", 50, 1, MAX_PAGE)
    raw = request.args.get("min_confidence", "0.5")
    try:
        floor = float(raw)
    except ValueError:
        raise BadQuery(f"'min_confidence' must be a number, got {raw[:40]!r}") from None
    if not 0.0 <= floor <= 1.0:
        raise BadQuery("'min_confidence' must be between 0 and 1")
    after = keyset.decode(args.get("cursor"), "suspects", (float, int))
    c = container()
    propagation = c.propagation()
    found, more = suspect_page(propagation, floor, None if after is None else (after[0], after[1]), count)
    notes = c.notes.get_annotations([s.logo_id for s in found])
    rows = []
    for s in found:
        assert s.predicted is not None
        own = notes.get(s.logo_id)
        rows.append(
            {
                "logo_id": s.logo_id,
                "annotation": {"type": s.truth[0], "value": s.truth[1], "annotation_value": own and own.value},
                "neighbours_say": {"type": s.predicted[0], "value": s.predicted[1], "confidence": s.confidence},
            }
        )
    next_cursor = keyset.encode("suspects", (found[-1].confidence, found[-1].logo_id)) if more and found else None
    return jsonify({"logos": rows, "count": len(rows), "next_cursor": next_cursor})


def _value_query() -> LogoQuery:
    """The references' filter: the type and the value's tag and/or taxonomy id (neither: logos of
    the type annotated without a value)."""
    args = request.args
    if "type" not in args:
        raise BadQuery("'type' is required")
    value, taxonomy = args.get("value") or None, args.get("taxonomy_value") or None
    return LogoQuery(
        type=normalise_type(args["type"]),
        value_tag=value_tag(value) if value else None,
        taxonomy_value=taxonomy,
        no_value=value is None and taxonomy is None,
    )


def _neighbour_cache() -> NeighbourCache:
    """One cache of the references' neighbours per app (``common.pipeline.value_cluster``)."""
    return this_app().neighbours


@blueprint.get("/api/v1/images/logos/value-cluster")
def value_cluster() -> Any:
    """The unannotated logos nearest to those annotated with a value, each once, nearest first."""
    count = int_param(request.args, "count", 50, 1, MAX_PAGE)
    query = _value_query()
    after = keyset.decode(request.args.get("cursor"), "value-cluster", (float, int))
    c = container()
    page = ValueClusters(c.store, c.notes, c.fresh_index, _neighbour_cache()).page(
        query, count, None if after is None else (float(after[0]), int(after[1]))
    )
    details = {body["id"]: body for body in robotoff_logos([x.logo_id for x in page.logos])}
    logos = [{**details[x.logo_id], **x.extra()} for x in page.logos if x.logo_id in details]
    last = page.logos[-1] if page.logos else None
    next_cursor = keyset.encode("value-cluster", last.position()) if page.more and last else None
    return jsonify({"references": page.references, "logos": logos, "count": len(logos), "next_cursor": next_cursor})


@blueprint.get("/api/v1/values")
def values() -> Any:
    """Each annotated value's progress: annotated, accepted predictions, candidates."""
    args = request.args
    kind = normalise_type(args["type"]) if "type" in args else None
    count = int_param(args, "count", 100, 1, MAX_PAGE)
    after = keyset.decode(args.get("cursor"), "values", (str, str))
    c = container()
    report = c.propagation().report() or {}
    cuts = {t: float(v["threshold"]) for t, v in report.get("thresholds", {}).items() if v.get("threshold") is not None}
    found = c.notes.value_counts(kind, None if after is None else (after[0], after[1]), count + 1, cuts)
    shown = found[:count]
    rows = [
        {
            "type": v.type,
            "value": v.value or None,
            "annotated": v.annotated,
            "accepted_predictions": v.accepted_predictions,
            "candidates": v.candidates,
        }
        for v in shown
    ]
    next_cursor = keyset.encode("values", (shown[-1].type, shown[-1].value)) if len(found) > count else None
    return jsonify({"values": rows, "count": len(rows), "next_cursor": next_cursor})
