"""Use case: send every object already in a bucket through detect → embed_index, as an upload would.

Objects are listed in name order from the backfill's cursor on. Each one is looked up by its
current generation (``stat``, the same token an upload's event carries): an object the store
already has in a final state (indexed, failed, deleted, superseded), or an image imported from
Robotoff, is skipped as done; any other goes to the sink (in-process detect, or the backfill
topic pushed to ``detect``). The cursor moves once per object, in the store, so a stopped
backfill resumes after the last object it recorded. An upload arriving meanwhile carries the same
``(bucket, name, generation)`` key, and detect is idempotent on it: the object is processed once.

A transient failure (storage, queue or database unreachable) is retried with back-off; if it
persists the backfill stops there without moving its cursor, so nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from common.domain import ObjectRef, StoredObject
from common.errors import TransientError
from common.ports.backfill_store import BackfillStore
from common.ports.image_store import ImageStore
from common.ports.metadata_store import DELETED, FAILED, INDEXED, SUPERSEDED, MetadataStore
from common.ports.object_lister import ObjectLister
from common.progress import Progress
from common.records.imports import BackfillCursor

logger = logging.getLogger(__name__)

DONE = (INDEXED, FAILED, DELETED, SUPERSEDED)
IMPORTED_GENERATION = "0"  # images imported from Robotoff carry no storage generation


class BackfillSink(Protocol):
    mode: str

    def send(self, stored: StoredObject) -> str | None:
        """Hand one object to detect; the permanent failure's reason, or None.
        ``TransientError`` when it could not be handed over."""
        ...


class ListingImageStore(ImageStore, ObjectLister, Protocol):
    """Object storage that can also list a bucket."""


@dataclasses.dataclass
class BackfillDeps:
    store: MetadataStore
    images: ListingImageStore
    cursors: BackfillStore
    sink: BackfillSink
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.monotonic


@dataclasses.dataclass(frozen=True)
class BackfillRequest:
    bucket: str
    prefix: str = ""
    since: dt.datetime | None = None
    name: str | None = None  # the cursor's name; default from bucket, prefix and since
    rate: float = 0.0  # objects per second handed to the sink; 0: no limit
    restart: bool = False
    retries: int = 4

    @property
    def cursor_name(self) -> str:
        since = "" if self.since is None else f"@{self.since.isoformat()}"
        return self.name or f"{self.bucket}/{self.prefix}{since}"


@dataclasses.dataclass
class BackfillReport:
    cursor: BackfillCursor
    mode: str
    this_run: dict[str, int]
    failures: list[tuple[str, str]]
    seconds: float

    def as_dict(self) -> dict[str, object]:
        c = self.cursor
        return {
            "backfill": c.name, "mode": self.mode, "bucket": c.bucket, "prefix": c.prefix, "since": c.since,
            "processed": c.processed, "skipped_as_done": c.skipped, "failed": c.failed, "last_object": c.last_object,
            "this_run": self.this_run, "seconds": round(self.seconds, 3),
            "failures": [{"object": name, "reason": reason} for name, reason in self.failures],
        }  # fmt: skip


def already_done(store: MetadataStore, ref: ObjectRef) -> bool:
    """The store holds this generation in a final state, or the object was imported."""
    for image in store.find_images(ref.bucket, ref.name):
        if image.ref.generation == IMPORTED_GENERATION:
            return True
        if image.ref.generation == ref.generation and image.status in DONE:
            return True
    return False


def run_backfill(deps: BackfillDeps, request: BackfillRequest, stream: TextIO | None = None) -> BackfillReport:
    name = request.cursor_name
    since = None if request.since is None else request.since.isoformat()
    cursor = deps.cursors.begin(name, request.bucket, request.prefix, since, restart=request.restart)
    progress = Progress("backfill", None, unit="objects", stream=stream, now=deps.now)
    counts = {"listed": 0, "older_than_since": 0, "processed": 0, "skipped_as_done": 0, "failed": 0}
    pace = _Pace(request.rate, deps.sleep, deps.now)
    try:
        for listed in deps.images.list_objects(request.bucket, request.prefix, cursor.last_object):
            counts["listed"] += 1
            if request.since is not None and listed.updated is not None and listed.updated < request.since:
                counts["older_than_since"] += 1
                continue
            outcome, reason = _handle(deps, request, listed.name, listed.size, pace)
            deps.cursors.advance(name, listed.name, outcome, reason)
            counts["skipped_as_done" if outcome == "skipped" else outcome] += 1
            progress.advance(1)
    finally:  # stopped too (Ctrl-C, an error): the objects done so far are the last line shown
        progress.close()
    cursor = deps.cursors.finish(name)
    return BackfillReport(cursor, deps.sink.mode, counts, deps.cursors.failures(name), progress.seconds)


def _handle(
    deps: BackfillDeps, request: BackfillRequest, name: str, size: int | None, pace: _Pace
) -> tuple[str, str | None]:
    def attempt() -> tuple[str, str | None]:
        ref = deps.images.stat(request.bucket, name)
        if ref is None:
            return "skipped", None  # deleted since it was listed: its delete event retires it
        if already_done(deps.store, ref):
            return "skipped", None
        pace.wait()
        reason = deps.sink.send(StoredObject(ref, size))
        return ("failed", reason) if reason else ("processed", None)

    return _retrying(attempt, request.retries, deps.sleep, name)


def _retrying(attempt: Callable[[], tuple[str, str | None]], retries: int, sleep: Callable[[float], None],
              name: str) -> tuple[str, str | None]:  # fmt: skip
    delay = 0.5
    for left in range(retries, -1, -1):
        try:
            return attempt()
        except TransientError as exc:
            if left == 0:
                raise
            logger.warning("backfill: %s: %s; retrying in %.1fs", name, exc, delay)
            sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


class _Pace:
    """At most ``rate`` calls of ``wait`` per second (none when ``rate`` is 0)."""

    def __init__(self, rate: float, sleep: Callable[[float], None], now: Callable[[], float]) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.sleep, self.now = sleep, now
        self.next_at = now()

    def wait(self) -> None:
        if self.interval == 0.0:
            return
        ahead = self.next_at - self.now()
        if ahead > 0:
            self.sleep(ahead)
        self.next_at = max(self.next_at, self.now()) + self.interval
