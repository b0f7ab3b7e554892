"""The OpenAPI components: request and response bodies, and the parameters routes share."""

from __future__ import annotations

from typing import Any

from common.api.paging import MAX_LABEL_CHARS
from common.api.params import DEFAULT_COUNT, MAX_COUNT, MAX_IDS

MAX_ID = 2**63 - 1


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    schema["required"] = list(properties) if required is None else required
    return schema


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
COUNT = {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": DEFAULT_COUNT}
NEIGHBOURS = {"type": "array", "items": ref("Neighbour")}
BOX = {
    "type": "array",
    "items": {"type": "number", "minimum": 0, "maximum": 1},
    "minItems": 4,
    "maxItems": 4,
    "description": "relative [y_min, x_min, y_max, x_max]",
}

SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": {"type": "string"}, "status": {"type": "integer"}}),
    "Neighbour": obj(
        {
            "logo_id": ID,
            "distance": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "(1 - cosine) / 2; 0 = identical",
            },
        }
    ),
    "SearchResults": obj(
        {
            "results": NEIGHBOURS,
            "count": {"type": "integer", "minimum": 0},
            "query_logo_id": nullable(ID),
            "next_cursor": nullable(
                {"type": "string", "description": "present when paginating; null on the last page"}
            ),
        },
        required=["results", "count", "query_logo_id"],
    ),
    "Image": obj(
        {
            "id": ID,
            "bucket": {"type": "string"},
            "source_image": {"type": "string"},
            "generation": {"type": "string"},
            "width": nullable({"type": "integer"}),
            "height": nullable({"type": "integer"}),
            "status": {"type": "string"},
        }
    ),
    "LogoDetails": obj(
        {
            "id": ID,
            "bounding_box": BOX,
            "score": {"type": "number"},
            "label": {"type": "string"},
            "annotation_type": nullable({"type": "string"}),
            "annotation_value": nullable({"type": "string"}),
            "nearest_neighbors": nullable({"type": "object", "description": "{logo_ids, distances, updated_at}"}),
            "has_embedding": {"type": "boolean"},
            "detector_version": {"type": "string"},
            "image": nullable(ref("Image")),
        }
    ),
    "LogoList": obj(
        {"logos": {"type": "array", "items": ref("LogoDetails")}, "count": {"type": "integer", "minimum": 0}}
    ),
    "BatchRequest": obj(
        {"logo_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_IDS}, "count": COUNT},
        required=["logo_ids"],
        example={"logo_ids": [1, 2], "count": 10},
    ),
    "BatchResults": obj(
        {
            "results": {
                "type": "object",
                "additionalProperties": NEIGHBOURS,
                "description": "neighbours per logo id (as a string key)",
            },
            "missing": {"type": "array", "items": ID, "description": "ids unknown or without an embedding"},
        }
    ),
    "EmbeddingRequest": obj(
        {
            "embedding": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 1,
                "description": "as many values as the index has dimensions",
            },
            "count": COUNT,
        },
        required=["embedding"],
    ),
    "EmbeddingResults": obj({"results": NEIGHBOURS, "count": {"type": "integer", "minimum": 0}}),
    "DetectedLogo": obj(
        {"bounding_box": BOX, "score": {"type": "number"}, "label": {"type": "string"}, "results": NEIGHBOURS}
    ),
    "StoredImage": obj(
        {
            "image_id": ID,
            "status": {"type": "string"},
            "error": nullable({"type": "string"}),
            "logo_ids": {"type": "array", "items": ID},
        }
    ),
    "ImageSearchResults": obj(
        {
            "logos": {"type": "array", "items": ref("DetectedLogo")},
            "count": {"type": "integer", "minimum": 0},
            "stored": ref("StoredImage"),
        },
        required=["logos", "count"],
    ),
    "StoredObject": obj(
        {
            "status": {"type": "string", "enum": ["stored"]},
            "image": obj(
                {
                    "bucket": {"type": "string"},
                    "name": {"type": "string"},
                    "generation": {"type": "string"},
                    "size": nullable({"type": "integer", "minimum": 0}),
                    "content_type": nullable({"type": "string"}),
                }
            ),
        }
    ),
    "ImageSearchStored": obj(
        {
            "logos": {"type": "array", "items": ref("DetectedLogo")},
            "count": {"type": "integer", "minimum": 0},
            "stored": ref("StoredObject"),
        }
    ),
    "UploadResult": obj(
        {
            "image_id": ID,
            "status": {"type": "string"},
            "error": nullable({"type": "string"}),
            "logos": {"type": "array", "items": ref("LogoDetails")},
        }
    ),
    "Health": obj(
        {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "checks": {"type": "object", "additionalProperties": {"type": "object"}},
        }
    ),
    "Info": obj(
        {
            "embedding_dim": nullable({"type": "integer"}),
            "standin_models": {"type": "boolean"},
            "models": {"type": "object"},
            "limits": {"type": "object"},
        }
    ),
}


def query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}


LOGO_ID_PATH = {"name": "logo_id", "in": "path", "required": True, "schema": ID, "example": 1}
COUNT_QUERY = query("count", COUNT, f"number of neighbours, 1..{MAX_COUNT}")
FILTER_QUERIES = [
    query("annotated", {"type": "boolean"}, "only annotated (true) or only unannotated (false) neighbours"),
    query("label", {"type": "string", "maxLength": MAX_LABEL_CHARS}, "only neighbours with this detector label"),
    query("image_id", ID, "only neighbours from this image"),
]
PAGINATE_QUERY = query("paginate", {"type": "boolean"}, "return next_cursor to fetch the following page")
CURSOR_QUERY = query(
    "cursor",
    {"type": "string"},
    "next_cursor of the previous page (same logo and filters); pages come from one ranking",
)
LOGO_IDS_QUERY = query(
    "logo_ids",
    {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_IDS},
    "logo ids, comma-separated or repeated",
    required=True,
    style="form",
    explode=True,
    example=[1, 2],
)
