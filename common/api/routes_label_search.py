"""Reading labels: Robotoff's logo search, the predicted labels, and calibration (operators).

- ``GET /api/v1/images/logos/search?count(1..2000, 25)&type&value|taxonomy_value&barcode&annotated&random
  &min_confidence``
  → ``{"logos": [LogoDetails], "count": total}``; ``value``/``taxonomy_value`` need ``type`` and
  exclude each other; ``type=label`` takes ``taxonomy_value``; ``min_confidence`` is the
  detector's score;
- ``GET /api/v1/images/logos/predictions?type&value&min_precision&count(1..1000, 100)&cursor``
  → ``{"predictions": [...], "count": n, "next_cursor": str|null}`` in logo id order;
- ``POST /api/v1/admin/calibrate`` (token) runs ``logo-ann calibrate``;
  ``GET /api/v1/admin/calibration`` returns the latest report.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from common.api.context import container, error, require_token
from common.api.label_details import prediction_row
from common.api.logo_lookup import robotoff_logos
from common.api.params import bool_param, int_param
from common.errors import BadQuery
from common.labels.values import normalise_type, value_tag
from common.pipeline.calibrate import run_calibration
from common.records.annotations import LogoQuery

blueprint = Blueprint("label_search", __name__)

MAX_SEARCH = 2000
MAX_PREDICTIONS = 1000


def _float(name: str, low: float, high: float) -> float | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadQuery(f"'{name}' must be a number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"'{name}' must be between {low} and {high}, got {raw[:40]!r}")
    return value


def _search_query() -> LogoQuery:
    args = request.args
    kind = normalise_type(args["type"]) if "type" in args else None
    value, taxonomy = args.get("value") or None, args.get("taxonomy_value") or None
    if (value or taxonomy) and kind is None:
        raise BadQuery("'value' and 'taxonomy_value' need 'type'")
    if value and taxonomy:
        raise BadQuery("give 'value' or 'taxonomy_value', not both")
    if value and kind == "label":
        raise BadQuery("for type=label, search by 'taxonomy_value'")
    return LogoQuery(
        type=kind,
        value_tag=value_tag(value) if value else None,
        taxonomy_value=taxonomy,
        barcode=args.get("barcode") or None,
        annotated=bool_param(args, "annotated"),
        min_confidence=_float("min_confidence", 0.0, 1.0),
        random=bool(bool_param(args, "random")),
        count=int_param(args, "count", 25, 1, MAX_SEARCH),
    )


@blueprint.get("/api/v1/images/logos/search")
def search_logos() -> Any:
    """Logos by annotation, barcode, detector score; ``count`` is the number of matches."""
    ids, total = container().notes.search_logos(_search_query())
    return jsonify({"logos": robotoff_logos(ids), "count": total})


def _cursor() -> int:
    raw = request.args.get("cursor")
    if raw is None:
        return 0
    if not raw.isdigit() or len(raw) > 19:
        raise BadQuery(f"'cursor' must be a cursor returned as 'next_cursor', got {raw[:40]!r}")
    return int(raw)


@blueprint.get("/api/v1/images/logos/predictions")
def predictions() -> Any:
    """Predicted labels, filtered by type, value and calibrated precision, page by page."""
    args = request.args
    kind = normalise_type(args["type"]) if "type" in args else None
    count = int_param(args, "count", 100, 1, MAX_PREDICTIONS)
    c = container()
    found = c.notes.list_predictions(
        type=kind,
        value=args.get("value") or None,
        min_precision=_float("min_precision", 0.0, 1.0),
        after=_cursor(),
        count=count,
    )
    report = c.propagation().report()
    rows = [prediction_row(p, report) for p in found]
    next_cursor = str(found[-1].logo_id) if len(found) == count else None
    return jsonify({"predictions": rows, "count": len(rows), "next_cursor": next_cursor})


@blueprint.post("/api/v1/admin/calibrate")
@require_token
def calibrate() -> Any:
    """Leave-one-out calibration over the annotated logos; refreshes every prediction."""
    c = container()
    s = c.settings
    target = _float("target_precision", 0.01, 1.0) or s.target_precision
    report = run_calibration(c.propagation(), target, s.calibration_min_support, frequent_min=20)
    return jsonify(report)


@blueprint.get("/api/v1/admin/calibration")
def calibration() -> Any:
    """The latest calibration report (404 before the first run)."""
    report = container().notes.latest_calibration()
    if report is None:
        return error(404, "no calibration has run yet: POST /api/v1/admin/calibrate or run `logo-ann calibrate`")
    return jsonify(report)
