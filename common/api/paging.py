"""Filtered and paginated neighbour lists for ``GET /api/v1/ann/search/{logo_id}``.

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
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from common.api.bodies import results_body
from common.api.params import bool_param, count_param, id_value
from common.domain import Neighbour
from common.pipeline.search import BadQuery, SearchService
from common.ports.metadata_store import LogoRecord, MetadataStore

MAX_RANK_DEPTH = 1000  # deepest a paginated or filtered query ranks
MIN_RANK_DEPTH = 100
MAX_LABEL_CHARS = 200


@dataclasses.dataclass(frozen=True)
class Filters:
    annotated: bool | None = None
    label: str | None = None
    image_id: int | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Filters:
        label = args.get("label") or None
        if label is not None and len(label) > MAX_LABEL_CHARS:
            raise BadQuery(f"'label' must be at most {MAX_LABEL_CHARS} characters")
        image = args.get("image_id")
        image_id = id_value(image, "image_id") if image is not None else None
        return cls(bool_param(args, "annotated"), label, image_id)

    def active(self) -> bool:
        return self != Filters()

    def key(self) -> list[Any]:
        return [self.annotated, self.label, self.image_id]

    def matches(self, logo: LogoRecord) -> bool:
        annotated = logo.annotation_type is not None or logo.annotation_value is not None
        return (
            (self.annotated is None or annotated == self.annotated)
            and (self.label is None or logo.label == self.label)
            and (self.image_id is None or logo.image_id == self.image_id)
        )

    def apply(self, neighbours: list[Neighbour], store: MetadataStore) -> list[Neighbour]:
        if not self.active():
            return neighbours
        logos = {logo.id: logo for logo in store.get_logos([n.logo_id for n in neighbours])}
        return [n for n in neighbours if n.logo_id in logos and self.matches(logos[n.logo_id])]


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


@dataclasses.dataclass(frozen=True)
class Ranked:
    items: list[Neighbour]
    exhausted: bool  # nothing can follow ``items``: the index ran out, or the depth cap was hit


class RankedCache:
    """A thread-safe LRU of ranked neighbour lists."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], Ranked] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Ranked | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], ranked: Ranked) -> None:
        with self._lock:
            self._items[key] = ranked
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def wants_page(args: Mapping[str, Any]) -> bool:
    return args.get("cursor") is not None or bool(bool_param(args, "paginate"))


def neighbours_body(
    service: SearchService, cache: RankedCache, logo_id: int, args: Mapping[str, Any]
) -> dict[str, Any]:
    """The Robotoff-shaped body, plus ``next_cursor`` when paginating."""
    count = count_param(args)
    filters = Filters.from_args(args)
    paginate = wants_page(args)
    if not paginate and not filters.active():
        return _body(service.by_logo(logo_id, count), logo_id)
    offset, generation = 0, service.store.last_change_seq()
    if args.get("cursor") is not None:
        cursor = Cursor.decode(str(args["cursor"]))
        if cursor.logo_id != logo_id or cursor.filters != filters.key():
            raise BadQuery("'cursor' belongs to another query: repeat the same logo and filters")
        offset = cursor.offset
        if _covers(cache.get(_key(logo_id, cursor.generation, filters)), offset + count):
            generation = cursor.generation  # keep paging the snapshot the first page came from
    ranked = _ranked(service, cache, logo_id, generation, filters, offset + count)
    page = ranked.items[offset : offset + count]
    body = _body(page, logo_id)
    if paginate:
        end = offset + len(page)
        more = end < len(ranked.items) and end < MAX_RANK_DEPTH
        body["next_cursor"] = Cursor(logo_id, end, generation, filters.key()).encode() if more else None
    return body


def _body(neighbours: list[Neighbour], query: int) -> dict[str, Any]:
    return results_body(neighbours, query)


def _covers(ranked: Ranked | None, need: int) -> bool:
    return ranked is not None and (ranked.exhausted or len(ranked.items) >= need)


def _key(logo_id: int, generation: int, filters: Filters) -> tuple[Any, ...]:
    return (logo_id, generation, *filters.key())


def _ranked(
    service: SearchService, cache: RankedCache, logo_id: int, generation: int, filters: Filters, need: int
) -> Ranked:
    """At least ``need`` filtered neighbours (or all there are), ranking deeper only when short."""
    key = _key(logo_id, generation, filters)
    cached = cache.get(key)
    if cached is not None and _covers(cached, need):
        return cached
    depth = min(MAX_RANK_DEPTH, max(MIN_RANK_DEPTH, 4 * need))
    while True:
        raw = service.by_logo(logo_id, depth)
        items = filters.apply(raw, service.store)
        exhausted = len(raw) < depth or depth >= MAX_RANK_DEPTH
        if exhausted or len(items) >= need:
            break
        depth = min(MAX_RANK_DEPTH, depth * 4)
    ranked = Ranked(items, exhausted)
    cache.put(key, ranked)
    return ranked
