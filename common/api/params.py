"""Query-parameter parsing: every bad value is a 400 with a message naming the parameter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import request

from common.errors import BadQuery

MAX_COUNT = 500
DEFAULT_COUNT = 100
MAX_IDS = 500
MAX_AGE_S = 30 * 24 * 3600  # ``older_than`` of the admin reconcile route


def int_param(args: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        if name in args:  # a JSON body's explicit null is not "absent"
            raise BadQuery(f"'{name}' must be an integer, got null")
        return default
    if isinstance(raw, (bool, float)):  # JSON true or 2.5 is not an integer either
        raise BadQuery(f"'{name}' must be an integer, got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadQuery(f"'{name}' must be an integer, got {str(raw)[:40]!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"'{name}' must be between {low} and {high}, got {value}")
    return value


def count_param(args: Mapping[str, Any], default: int = DEFAULT_COUNT) -> int:
    return int_param(args, "count", default, 1, MAX_COUNT)


def id_value(raw: Any, name: str = "logo_id") -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadQuery(f"'{name}' must be a positive integer, got {str(raw)[:40]!r}") from None
    if not 1 <= value <= 2**63 - 1:
        raise BadQuery(f"'{name}' must be a positive integer, got {value}")
    return value


def id_list(values: list[str], name: str = "logo_ids", limit: int = MAX_IDS) -> list[int]:
    """Ids from ``?logo_ids=1,2,3`` and/or repeated ``?logo_ids=1&logo_ids=2``; order kept, no repeats."""
    parts = [part for value in values for part in str(value).split(",") if part.strip()]
    if not parts:
        raise BadQuery(f"'{name}' must name at least one id")
    if len(parts) > limit:
        raise BadQuery(f"'{name}' accepts at most {limit} ids, got {len(parts)}")
    return list(dict.fromkeys(id_value(part, name) for part in parts))


def bool_param(args: Mapping[str, Any], name: str) -> bool | None:
    """``true``/``false`` (also 1/0, yes/no); ``None`` when absent."""
    raw = args.get(name)
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise BadQuery(f"'{name}' must be true or false, got {str(raw)[:40]!r}")


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object."""
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise BadQuery("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadQuery("the request body must be a JSON object")
    return body


def uploaded_bytes() -> tuple[bytes, str | None]:
    """The image of an upload (multipart field ``file``, any other file field, or the raw body)
    and its file name when it has one."""
    if request.files:
        upload = request.files.get("file") or next(iter(request.files.values()))
        data = upload.read()
        filename = upload.filename
    else:
        data = request.get_data(cache=False)
        filename = None
    if not data:
        raise BadQuery("the request has no image: send it as multipart field 'file' or as the raw body")
    return data, filename
