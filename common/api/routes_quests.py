"""Quests: clusters of unannotated look-alikes, labelled in one operation, and what to annotate next.

- ``GET /api/v1/clusters?annotated=false&min_size=K&count=N&cursor=C``
  → ``{"clusters": [{"id", "size", "logo_ids", "representative_logo_id", "radius"}], "count",
  "next_cursor"}``, largest first;
- ``GET /api/v1/clusters/{id}`` → one cluster (404 once it is gone: annotated, or scattered);
- ``POST /api/v1/clusters/{id}/annotate`` ``{"type", "value", "exclude": [logo ids], "logo_ids"?}``
  (a verified user) → ``{"operation_id", "cluster_id", "annotated", "logo_ids"}``: every other
  member gets the label in one operation; with ``logo_ids`` (the members the person saw), only
  those of them still in the cluster, so a member that joined since is not labelled unseen;
- ``POST /api/v1/admin/clusters/rebuild`` (the API token) → ``{"clusters": n}``: every cluster again
  from the stored lists (the first read builds them; after an import or a new cut-off, this);
- ``GET /api/v1/annotate/next?count=N&cursor=C`` → ``{"logos": [{"logo_id", "reason", "gain",
  "cluster_id", "confidence", "logo_ids", "type", "value"}], "count", "next_cursor"}``
  (``common.pipeline.next_logos``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, jsonify, request

from common.api import keyset
from common.api.auth import current_user, require_user
from common.api.context import container, require_token
from common.api.params import bool_param, id_value, int_param, json_object
from common.errors import BadQuery, NotFoundError
from common.pipeline.next_logos import next_logos
from common.records.annotations import CLUSTER_ANNOTATE
from common.records.quests import Cluster

blueprint = Blueprint("quests", __name__)

MAX_PAGE = 500
MAX_EXCLUDE = 10_000


def cluster_json(c: Cluster) -> dict[str, Any]:
    return {
        "id": c.id,
        "size": c.size,
        "logo_ids": list(c.logo_ids),
        "representative_logo_id": c.representative_logo_id,
        "radius": c.radius,
    }


@blueprint.get("/api/v1/clusters")
def clusters() -> Any:
    """Clusters of unannotated look-alike logos, largest first."""
    args = request.args
    if bool_param(args, "annotated"):
        raise BadQuery("only clusters of unannotated logos are kept: 'annotated' must be false")
    min_size = int_param(args, "min_size", 2, 2, 1_000_000)
    count = int_param(args, "count", 50, 1, MAX_PAGE)
    after = keyset.decode(args.get("cursor"), "clusters", (int, int))
    page = container().quests().page(min_size, None if after is None else (after[0], after[1]), count + 1)
    shown = page[:count]
    next_cursor = keyset.encode("clusters", (shown[-1].size, shown[-1].id)) if len(page) > count else None
    return jsonify({"clusters": [cluster_json(c) for c in shown], "count": len(shown), "next_cursor": next_cursor})


def _cluster(cluster_id: int) -> Cluster:
    found = container().quests().get(id_value(cluster_id, "cluster_id"))
    if found is None:
        raise NotFoundError(f"cluster {cluster_id} does not exist (any more)")
    return found


@blueprint.get("/api/v1/clusters/<int:cluster_id>")
def cluster(cluster_id: int) -> Any:
    """One cluster."""
    return jsonify(cluster_json(_cluster(cluster_id)))


def _ids(body: dict[str, Any], name: str, default: list[int] | None) -> list[int] | None:
    found = body.get(name, default)
    if found is None:
        return None
    if not isinstance(found, list) or len(found) > MAX_EXCLUDE:
        raise BadQuery(f"'{name}' must be a list of at most {MAX_EXCLUDE} logo ids")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in found):
        raise BadQuery(f"'{name}' must hold logo ids (integers)")
    return found


@blueprint.post("/api/v1/clusters/<int:cluster_id>/annotate")
@require_user
def annotate_cluster(cluster_id: int) -> Any:
    """Label every member of a cluster but the excluded ones, in one operation."""
    body = json_object(request.get_data(cache=False))
    if "type" not in body:
        raise BadQuery("the body needs 'type' and 'value' (and 'exclude', a list of logo ids)")
    exclude = _ids(body, "exclude", []) or []
    seen = _ids(body, "logo_ids", None)
    found = _cluster(cluster_id)
    members = [i for i in found.logo_ids if i not in set(exclude) and (seen is None or i in set(seen))]
    params = {"cluster_id": found.id, "exclude": sorted(set(exclude))}
    annotator = container().annotator()
    applied = annotator.label_many(members, body["type"], body.get("value"), current_user(), CLUSTER_ANNOTATE, params)
    response = jsonify(
        {
            "operation_id": applied.operation_id,
            "cluster_id": found.id,
            "annotated": len(applied.changed),
            "logo_ids": applied.changed,
        }
    )
    response.headers["Operation-Id"] = str(applied.operation_id)
    return response


@blueprint.post("/api/v1/admin/clusters/rebuild")
@require_token
def rebuild() -> Any:
    """Build every cluster again from the stored neighbour lists (after an import, or a new cut-off)."""
    return jsonify({"clusters": container().quests().rebuild()})


@blueprint.get("/api/v1/annotate/next")
def annotate_next() -> Any:
    """The logos whose annotation would label the most others, one per cluster."""
    args = request.args
    count = int_param(args, "count", 10, 1, MAX_PAGE)
    raw = keyset.decode(args.get("cursor"), "next", (int,))
    c = container()
    found, following = next_logos(c.quests(), c.propagation(), count, 0 if raw is None else int(raw[0]))
    logos = [dataclasses.asdict(s) for s in found]
    next_cursor = None if following is None else keyset.encode("next", (following,))
    return jsonify({"logos": logos, "count": len(logos), "next_cursor": next_cursor})
