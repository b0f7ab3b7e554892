"""The annotation-at-scale operations of the OpenAPI document (``routes_quests``,
``routes_corrections``), with their schemas; ``openapi_labels`` merges them into the document."""

from __future__ import annotations

from typing import Any

from common.api import openapi_web
from common.api.openapi_schemas import ID, nullable, obj, query, ref
from common.labels.values import ALIASES, TYPES

JSON = "application/json"
TYPE = {"type": "string", "enum": [*TYPES, *ALIASES]}
USER: list[dict[str, list[str]]] = [{"basic": []}, {"offSession": []}, {"bearer": []}]
ERRORS = {
    400: "bad parameter or body",
    401: "no credentials, or a wrong service token",
    403: "Open Food Facts did not recognise the credentials (admin routes: no token set and not from this machine)",
    404: "not found (logo, cluster, operation or prediction)",
    409: "the label named is not the logo's prediction nor one of its alternatives",
    503: "a dependency (Product Opener's sign-in check, the database, the index) is unavailable",
}
CURSOR = query("cursor", {"type": "string", "maxLength": 400}, "next_cursor of the previous page")
IDS = {"type": "array", "items": ID}
COUNTED = {"type": "integer", "minimum": 0}
LABEL = obj({"type": {"type": "string"}, "value": nullable({"type": "string"})})

SCHEMAS: dict[str, Any] = {
    **openapi_web.SCHEMAS,
    "Cluster": obj(
        {
            "id": ID,
            "size": {"type": "integer", "minimum": 2},
            "logo_ids": IDS,
            "representative_logo_id": ID,
            "radius": {"type": "number", "minimum": 0, "maximum": 1},
        }
    ),
    "ClusterPage": obj(
        {
            "clusters": {"type": "array", "items": ref("Cluster")},
            "count": COUNTED,
            "next_cursor": nullable(CURSOR["schema"]),
        }
    ),
    "Rebuilt": obj({"clusters": COUNTED}),
    "ClusterAnnotateRequest": obj(
        {"type": TYPE, "value": nullable({"type": "string", "maxLength": 1000}), "exclude": IDS, "logo_ids": IDS},
        required=["type"],
        example={"type": "brand", "value": "Coca-Cola", "exclude": [3]},
    ),
    "ClusterAnnotated": obj({"operation_id": ID, "cluster_id": ID, "annotated": COUNTED, "logo_ids": IDS}),
    "NextPage": obj(
        {
            "logos": {
                "type": "array",
                "items": obj(
                    {
                        "logo_id": ID,
                        "reason": {"type": "string", "enum": ["cluster", "near_threshold"]},
                        "gain": {"type": "integer", "minimum": 1},
                        "cluster_id": nullable(ID),
                        "confidence": nullable({"type": "number"}),
                        "logo_ids": IDS,
                        "type": nullable({"type": "string"}),
                        "value": nullable({"type": "string"}),
                    }
                ),
            },
            "count": COUNTED,
            "next_cursor": nullable({"type": "string"}),
        }
    ),
    "Operation": obj(
        {
            "id": ID,
            "username": {"type": "string"},
            "action": {"type": "string"},
            "created_at": {"type": "string"},
            "params": {"type": "object"},
            "changed": COUNTED,
            "logo_ids": IDS,
        }
    ),
    "Reverted": obj({"operation_id": ID, "reverted": ID, "restored": IDS, "skipped": IDS}),
    "PredictionChoice": obj(
        {"type": TYPE, "value": nullable({"type": "string", "maxLength": 1000})}, required=["type"]
    ),
    "Accepted": obj({"operation_id": ID, "logo_id": ID, "annotation": LABEL, "changed": {"type": "boolean"}}),
    "Rejected": obj({"operation_id": ID, "logo_id": ID, "negative": LABEL, "prediction": nullable(ref("Prediction"))}),
    "SuspectPage": obj(
        {
            "logos": {
                "type": "array",
                "items": obj(
                    {
                        "logo_id": ID,
                        "annotation": obj({**LABEL["properties"], "annotation_value": nullable({"type": "string"})}),
                        "neighbours_say": obj({**LABEL["properties"], "confidence": {"type": "number"}}),
                    }
                ),
            },
            "count": COUNTED,
            "next_cursor": nullable({"type": "string"}),
        }
    ),
    "ValueClusterPage": obj(
        {
            "references": COUNTED,
            "logos": {
                "type": "array",
                "items": {
                    "allOf": [
                        ref("RobotoffLogo"),
                        obj({"distance": {"type": "number"}, "nearest_reference_id": ID}),
                    ]
                },
            },
            "count": COUNTED,
            "next_cursor": nullable({"type": "string"}),
        }
    ),
    "ValuePage": obj(
        {
            "values": {
                "type": "array",
                "items": obj(
                    {
                        "type": {"type": "string"},
                        "value": nullable({"type": "string"}),
                        "annotated": COUNTED,
                        "accepted_predictions": COUNTED,
                        "candidates": COUNTED,
                    }
                ),
            },
            "count": COUNTED,
            "next_cursor": nullable({"type": "string"}),
        }
    ),
}


def _answer(description: str, schema: str | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _op(summary: str, ok: tuple[int, str, str], errors: list[int], **extra: Any) -> dict[str, Any]:
    code, description, schema = ok
    responses = {str(code): _answer(description, schema)}
    responses.update({str(c): _answer(ERRORS[c], "Error") for c in errors})
    return {"summary": summary, "responses": responses, **extra}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID, "example": 1}


def _count(default: int) -> dict[str, Any]:
    return query("count", {"type": "integer", "minimum": 1, "maximum": 500, "default": default}, "page size")


def _prediction_write(summary: str, answer: str, schema: str) -> dict[str, Any]:
    """A write on a logo's prediction; the body may name the prediction or one of its alternatives."""
    choice = {"required": False, "content": {JSON: {"schema": ref("PredictionChoice")}}}
    writes = [400, 401, 403, 404, 409, 503]
    logo = [_path("logo_id")]
    return {"post": _op(summary, (200, answer, schema), writes, parameters=logo, requestBody=choice, security=USER)}


def _quest_paths() -> dict[str, Any]:
    unannotated = query("annotated", {"type": "boolean", "enum": [False]}, "clusters of unannotated logos only")
    min_size = query("min_size", {"type": "integer", "minimum": 2, "maximum": 1000000, "default": 2}, "fewest logos")
    writes = [400, 401, 403, 404, 503]
    body = {"required": True, "content": {JSON: {"schema": ref("ClusterAnnotateRequest")}}}
    return {
        "/api/v1/clusters": {
            "get": _op(
                "Clusters of unannotated look-alike logos (quests), largest first",
                (200, "a page", "ClusterPage"),
                [400, 503],
                parameters=[unannotated, min_size, _count(50), CURSOR],
            )
        },
        "/api/v1/clusters/{cluster_id}": {
            "get": _op(
                "One cluster", (200, "the cluster", "Cluster"), [400, 404, 503], parameters=[_path("cluster_id")]
            )
        },
        "/api/v1/clusters/{cluster_id}/annotate": {
            "post": _op(
                "Label every member of a cluster but the excluded ones, in one operation",
                (200, "the operation", "ClusterAnnotated"),
                writes,
                parameters=[_path("cluster_id")],
                requestBody=body,
                security=USER,
            )
        },
        "/api/v1/admin/clusters/rebuild": {
            "post": {
                "summary": "Build every cluster again from the stored neighbour lists",
                "responses": {
                    "200": {
                        "description": "how many clusters",
                        "content": {JSON: {"schema": obj({"clusters": COUNTED})}},
                    },
                    **{str(c): _answer(ERRORS[c], "Error") for c in (401, 403, 503)},
                },
                "security": [{"bearer": []}, {}],  # with no token set: requests from this machine
            }
        },
        "/api/v1/annotate/next": {
            "get": _op(
                "What to annotate next: the logos whose annotation would label the most others",
                (200, "a page", "NextPage"),
                [400, 503],
                parameters=[_count(10), CURSOR],
            )
        },
    }


def _correction_paths() -> dict[str, Any]:
    value_queries = [
        query("type", TYPE, "annotation type", required=True),
        query("value", {"type": "string"}, "the value (compared by tag)"),
        query("taxonomy_value", {"type": "string"}, "the taxonomy id (neither: logos of the type without value)"),
        _count(50),
        CURSOR,
    ]
    floor = query("min_confidence", {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5}, "vote at least")
    return {
        "/api/v1/annotations/operations/{operation_id}": {
            "get": _op(
                "An annotation operation and the logos it touched",
                (200, "the operation", "Operation"),
                [400, 404, 503],
                parameters=[_path("operation_id")],
            )
        },
        "/api/v1/annotations/operations/{operation_id}/revert": {
            "post": _op(
                "Undo an operation; logos changed since are skipped and listed",
                (200, "the revert (itself an operation)", "Reverted"),
                [400, 401, 403, 404, 503],
                parameters=[_path("operation_id")],
                security=USER,
            )
        },
        "/api/v1/images/logos/{logo_id}/prediction/accept": _prediction_write(
            "Make the prediction (or an alternative) the logo's annotation", "the operation", "Accepted"
        ),
        "/api/v1/images/logos/{logo_id}/prediction/reject": _prediction_write(
            "Record that the logo is not the predicted value (a negative)",
            "the operation and the new prediction",
            "Rejected",
        ),
        "/api/v1/images/logos/suspects": {
            "get": _op(
                "Annotated logos whose neighbours confidently say otherwise",
                (200, "a page", "SuspectPage"),
                [400, 503],
                parameters=[_count(50), floor, CURSOR],
            )
        },
        "/api/v1/images/logos/value-cluster": {
            "get": _op(
                "A value's cluster: unannotated logos by distance to the nearest logo annotated with it",
                (200, "a page", "ValueClusterPage"),
                [400, 503],
                parameters=value_queries,
            )
        },
        "/api/v1/values": {
            "get": _op(
                "Progress per value: annotated, accepted predictions, candidates",
                (200, "a page", "ValuePage"),
                [400, 503],
                parameters=[query("type", TYPE, "annotation type"), _count(100), CURSOR],
            )
        },
    }


def openapi_paths() -> dict[str, Any]:
    return {**_quest_paths(), **_correction_paths(), **openapi_web.openapi_paths()}
