"""Opaque page cursors for the annotation lists: base64 JSON of the last row's sort position.

A cursor grants nothing the query does not, so it is checked, not signed: a cursor of another
list, or not one of ours, is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from common.errors import BadQuery


def encode(kind: str, position: Sequence[Any]) -> str:
    raw = json.dumps({"k": kind, "p": list(position)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str | None, kind: str, types: Sequence[type]) -> list[Any] | None:
    """The position in a cursor of list ``kind`` (``types``: each item's type), None without one."""
    if text is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4)))
        position = data["p"] if isinstance(data, dict) and data.get("k") == kind else None
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        position = None
    ok = isinstance(position, list) and len(position) == len(types)
    if ok and position is not None:
        ok = all(_is(v, t) for v, t in zip(position, types, strict=True))
    if not ok:
        raise BadQuery("'cursor' is not a cursor this list returned")
    return position


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type(value) is kind
