"""The ``prediction`` key of Robotoff's LogoDetails (``routes_robotoff`` builds the rest).

``prediction`` is null for a logo without one (annotated, or no annotated neighbour within the
vote's cut-off), else ``{"type", "value", "confidence", "precision", "votes", "alternatives",
"accepted", "updated_at"}``: ``alternatives`` are the vote's top labels with their shares, the
prediction first; ``precision`` is the calibrated estimate, a lower bound (null before any
calibration), and ``accepted`` whether the confidence reaches its type's calibrated threshold,
which is whether ``precision`` reaches the target (``common.labels.calibration``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.api.context import container
from common.labels.calibration import accepted
from common.records.annotations import Prediction


def prediction_json(prediction: Prediction | None, report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if prediction is None:
        return None
    return {
        "type": prediction.type,
        "value": prediction.value,
        "confidence": prediction.confidence,
        "precision": prediction.precision,
        "votes": prediction.votes,
        "alternatives": prediction.votes.get("alternatives", []),
        "accepted": accepted(report, prediction.type, prediction.confidence),
        "updated_at": prediction.updated_at,
    }


def prediction_row(prediction: Prediction, report: Mapping[str, Any] | None) -> dict[str, Any]:
    body = prediction_json(prediction, report)
    assert body is not None
    return {"logo_id": prediction.logo_id, **body}


def with_predictions(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LogoDetails bodies with their ``prediction`` key added (one query for all)."""
    c = container()
    predictions = c.notes.get_predictions([body["id"] for body in bodies]) if bodies else {}
    report = c.propagation().report() if predictions else None
    for body in bodies:
        body["prediction"] = prediction_json(predictions.get(body["id"]), report)
    return bodies
