"""Many logos in one request: neighbours of each (batch search) and their details."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from common.api.bodies import neighbours_json
from common.api.context import search_service
from common.api.logo_lookup import robotoff_logos
from common.api.params import MAX_IDS, count_param, id_list, id_value, json_object
from common.errors import BadQuery

MAX_BATCH_RESULTS = 50_000  # ids x count, so one request cannot ask for 250,000 rows

blueprint = Blueprint("batch", __name__)


def batch_ids(body: dict[str, Any]) -> list[int]:
    raw = body.get("logo_ids")
    if not isinstance(raw, list):
        raise BadQuery("'logo_ids' must be a JSON array of logo ids")
    if not raw:
        raise BadQuery("'logo_ids' must name at least one id")
    if len(raw) > MAX_IDS:
        raise BadQuery(f"'logo_ids' accepts at most {MAX_IDS} ids, got {len(raw)}")
    return list(dict.fromkeys(id_value(value, "logo_ids") for value in raw))


def batch_search(logo_ids: list[int], count: int) -> dict[str, Any]:
    """Neighbours of every logo that has an embedding; the others are listed as missing."""
    batch = search_service().by_logos(logo_ids, count)
    results = {str(logo_id): neighbours_json(found) for logo_id, found in batch.results.items()}
    return {"results": results, "missing": batch.missing}


@blueprint.post("/api/v1/ann/batch")
def ann_batch() -> Any:
    """Nearest neighbours of many logos: ``{"logo_ids": [...], "count": N}``."""
    body = json_object(request.get_data(cache=False))
    ids = batch_ids(body)
    count = count_param(body)
    if len(ids) * count > MAX_BATCH_RESULTS:
        raise BadQuery(
            f"len(logo_ids) x count must be at most {MAX_BATCH_RESULTS}, "
            f"got {len(ids)} x {count}: lower count or split the batch"
        )
    return jsonify(batch_search(ids, count))


@blueprint.get("/api/v1/images/logos")
def images_logos() -> Any:
    """Details of up to 500 logos: ``?logo_ids=1,2,3`` or repeated ``logo_ids``."""
    ids = id_list(request.args.getlist("logo_ids"))
    logos = robotoff_logos(ids)
    return jsonify({"logos": logos, "count": len(logos)})
