"""The OpenAPI operations and schemas of Robotoff's logo routes (``common.api.routes_robotoff``),
and the security schemes of Open Food Facts identities (``common.api.auth``)."""

from __future__ import annotations

from typing import Any

from common.api.openapi_schemas import BOX, ID, LOGO_ID_PATH, nullable, obj, query, ref

TEXT = {"type": "string"}
NULLABLE_TEXT = nullable(TEXT)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "LOGO_ANN_API_TOKEN (services)"},
    "basic": {"type": "http", "scheme": "basic", "description": "Open Food Facts user name and password"},
    "offSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "Open Food Facts' session cookie (user_id&NAME&user_session&...), checked by /cgi/auth.pl",
    },
}

SCHEMAS: dict[str, Any] = {
    "RobotoffImage": obj(
        {
            "id": ID,
            "barcode": nullable({"type": "string", "pattern": "^[0-9]+$"}),
            "uploaded_at": NULLABLE_TEXT,
            "image_id": nullable({"type": "string", "description": 'Open Food Facts image id, e.g. "4"'}),
            "source_image": {"type": "string", "description": "e.g. /324/227/210/2359/4.jpg"},
            "width": nullable({"type": "integer", "minimum": 1}),
            "height": nullable({"type": "integer", "minimum": 1}),
            "deleted": {"type": "boolean"},
            "server_type": TEXT,
        }
    ),
    "RobotoffLogo": obj(
        {
            "id": ID,
            "index": {"type": "integer", "minimum": 0},
            "bounding_box": BOX,
            "score": {"type": "number"},
            "annotation_type": NULLABLE_TEXT,
            "annotation_value": NULLABLE_TEXT,
            "annotation_value_tag": NULLABLE_TEXT,
            "taxonomy_value": NULLABLE_TEXT,
            "username": NULLABLE_TEXT,
            "completed_at": NULLABLE_TEXT,
            "nearest_neighbors": nullable({"type": "object", "description": "{logo_ids, distances, updated_at}"}),
            "barcode": NULLABLE_TEXT,
            "source_image": NULLABLE_TEXT,
            "text": NULLABLE_TEXT,
            "server_type": TEXT,
            "image": nullable(ref("RobotoffImage")),
        }
    ),
    "RobotoffLogoList": obj(
        {"logos": {"type": "array", "items": ref("RobotoffLogo")}, "count": {"type": "integer", "minimum": 0}}
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _corner(name: str) -> dict[str, Any]:
    schema = {"type": "number", "minimum": 0, "maximum": 1}
    return query(name, schema, "relative coordinate in [0, 1]; y_min < y_max and x_min < x_max", required=True)


def openapi_paths() -> dict[str, Any]:
    jpeg = {
        "description": "the crop as JPEG",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    }
    image_url = query(
        "image_url",
        {"type": "string", "minLength": 1, "pattern": r"\S"},
        "the photo: https://images.openfoodfacts.org/images/products{source_image} of a stored image, or an "
        "https URL on an allow-listed host (LOGO_ANN_CROP_HOSTS)",
        required=True,
    )
    return {
        "/api/v1/images/logos/{logo_id}": {
            "get": {
                "summary": "One logo's LogoDetails (Robotoff's GET /images/logos/{id})",
                "parameters": [LOGO_ID_PATH],
                "responses": {
                    "200": {
                        "description": "the logo",
                        "content": {"application/json": {"schema": ref("RobotoffLogo")}},
                    },
                    "400": _error("bad logo id"),
                    "404": _error("no such logo"),
                    "503": _error("a dependency is temporarily unavailable"),
                },
            }
        },
        "/api/v1/images/crop": {
            "get": {
                "summary": "A box of a photo named by URL, as JPEG (Robotoff's GET /images/crop)",
                "parameters": [image_url, *(_corner(n) for n in ("y_min", "x_min", "y_max", "x_max"))],
                "responses": {
                    "200": jpeg,
                    "304": {"description": "not modified (If-None-Match matched the ETag)"},
                    "400": _error("bad or empty box, missing parameter"),
                    "403": _error("this URL may not be fetched (scheme, host, address, redirect, size)"),
                    "404": _error("the image is unknown"),
                    "422": _error("the image cannot be decoded"),
                    "503": _error("the image host or the bucket is temporarily unavailable"),
                },
            }
        },
    }
