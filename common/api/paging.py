"""Filtered and paginated neighbour lists for ``GET /api/v1/ann/search/{logo_id}``: the
query parameters, the cursor encoding and the answer body. Ranking and filtering are the
search use case's (``common.pipeline.search``: ``Filters``, ``RankedCache``, ``ranked``).

A paginated query ranks once, deeper than the first page, and keeps the ranked list in a small
in-process LRU cache keyed by ``(logo_id, generation, filters)``; the generation is the metadata
store's embedding change sequence, so a new or deleted embedding starts a fresh ranking. Each
page hands back an opaque ``next_cursor`` (base64 JSON of the logo, the offset, the generation
and the filters) and "load more" slices the cached list instead of running a larger search.
A cursor grants nothing the query parameters do not, so it is validated, not signed; when its
ranking has left the cache (another instance, eviction) the list is ranked again at the current
generation and the page is cut from that.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from common.api.bodies import results_body
from common.api.params import bool_param, count_param, id_value
from common.errors import BadQuery
from common.pipeline.search import MAX_RANK_DEPTH, Filters, RankedCache, SearchService, rank_key

MAX_LABEL_CHARS = 200


def filters_from_args(args: Mapping[str, Any]) -> Filters:
    label = args.get("label") or None
    if label is not None and len(label) > MAX_LABEL_CHARS:
        raise BadQuery(f"'label' must be at most {MAX_LABEL_CHARS} characters")
    image = args.get("image_id")
    image_id = id_value(image, "image_id") if image is not None else None
    return Filters(bool_param(args, "annotated"), label, image_id)


@dataclasses.dataclass(frozen=True)
class Cursor:
    logo_id: int
    offset: int
    generation: int
    filters: list[Any]

    def encode(self) -> str:
        payload = {"v": 1, "l": self.logo_id, "o": self.offset, "g": self.generation, "f": self.filters}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
            data = json.loads(raw)
            cursor = cls(data["l"], data["o"], data["g"], data["f"])
        except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
            raise BadQuery("'cursor' is not a cursor this API returned") from None
        ints_ok = all(type(v) is int for v in (cursor.logo_id, cursor.offset, cursor.generation))
        if data.get("v") != 1 or not ints_ok or not isinstance(cursor.filters, list):
            raise BadQuery("'cursor' is not a cursor this API returned")
        if not 0 < cursor.offset < MAX_RANK_DEPTH:
            raise BadQuery("'cursor' points outside the ranked list")
        return cursor


def wants_page(args: Mapping[str, Any]) -> bool:
    return args.get("cursor") is not None or bool(bool_param(args, "paginate"))


def neighbours_body(
    service: SearchService, cache: RankedCache, logo_id: int, args: Mapping[str, Any]
) -> dict[str, Any]:
    """The Robotoff-shaped body, plus ``next_cursor`` when paginating."""
    count = count_param(args)
    filters = filters_from_args(args)
    paginate = wants_page(args)
    if not paginate and not filters.active():
        return results_body(service.by_logo(logo_id, count), logo_id)
    offset, generation = 0, service.generation()
    if args.get("cursor") is not None:
        cursor = Cursor.decode(str(args["cursor"]))
        if cursor.logo_id != logo_id or cursor.filters != filters.key():
            raise BadQuery("'cursor' belongs to another query: repeat the same logo and filters")
        offset = cursor.offset
        kept = cache.get(rank_key(logo_id, cursor.generation, filters))
        if kept is not None and kept.covers(offset + count):
            generation = cursor.generation  # keep paging the snapshot the first page came from
    ranked = service.ranked(cache, logo_id, generation, filters, offset + count)
    page = ranked.items[offset : offset + count]
    body = results_body(page, logo_id)
    if paginate:
        end = offset + len(page)
        more = end < len(ranked.items) and end < MAX_RANK_DEPTH
        body["next_cursor"] = Cursor(logo_id, end, generation, filters.key()).encode() if more else None
    return body
