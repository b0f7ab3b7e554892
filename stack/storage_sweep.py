"""The storage bridge's sweep: every object in the bucket reaches ``detect`` at least once.

Eventarc delivers each ``finalized`` event at least once, whatever happens to the bucket's
servers. SeaweedFS's filer webhook does not: its notification queue lives in memory, so the
notifications it holds when the filer stops (for photos uploaded just before) are gone. The
sweep closes that gap the way a durable event source would: every ``interval_s`` it lists the
bucket and posts a ``finalized`` event for each object version the bridge has not delivered,
once the version is ``grace_s`` old and no notification for it is in flight. It never re-sends
what ``detect`` has taken, so it hides no loss on the application's side. Deletions are not
swept (a listing cannot show them).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import Any

from stack.storage_bridge import _INTERNAL, FINALIZED, Bridge, Change

log = logging.getLogger("storage_bridge.sweep")


class Sweeper:
    """Lists ``bridge.bucket`` with ``client`` (boto3 S3) and delivers what was never announced."""

    def __init__(self, bridge: Bridge, client: Any, grace_s: float = 10.0, interval_s: float = 5.0) -> None:
        self.bridge, self.client, self.grace_s, self.interval_s = bridge, client, grace_s, interval_s
        self._settled: set[tuple[str, str, str]] = set()  # (name, ETag, LastModified) already delivered

    def sweep_once(self, now: dt.datetime | None = None) -> int:
        """One pass; returns how many objects it delivered."""
        now = now or dt.datetime.now(dt.UTC)
        sent = 0
        for entry in self._listing():
            key = (str(entry["Key"]), str(entry.get("ETag", "")), str(entry.get("LastModified", "")))
            if key in self._settled or key[0].startswith(_INTERNAL):
                continue
            if (now - entry["LastModified"]).total_seconds() < self.grace_s:
                continue
            outcome = self._deliver(key[0])
            if outcome != "in flight":
                self._settled.add(key)
            sent += outcome == "sent"
        return sent

    def _listing(self) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bridge.bucket)
        for page in pages:
            yield from page.get("Contents", [])

    def _deliver(self, name: str) -> str:
        head = self.client.head_object(Bucket=self.bridge.bucket, Key=name)
        change = _change(name, head)
        token = self.bridge.token(change)
        if token is None:
            return "gone"
        state = self.bridge.state(name, token)
        if state != "new":
            return state
        log.warning("%s/%s was never announced by the filer; sending its event", self.bridge.bucket, name)
        return "sent" if self.bridge.send(change, token) else "in flight"  # not taken: try again next pass

    def run(self, stop: threading.Event) -> None:
        """Sweep until ``stop`` is set; a pass that fails (the store is down) is retried next time."""
        while not stop.wait(self.interval_s):
            try:
                self.sweep_once()
            except Exception:  # noqa: BLE001 - the bucket's servers may be down; keep sweeping
                log.warning("sweep of bucket %s failed; next in %.0f s", self.bridge.bucket, self.interval_s)


def _change(name: str, head: dict[str, Any]) -> Change:
    etag = str(head.get("ETag", "")).strip('"')
    try:
        md5 = base64.b64encode(bytes.fromhex(etag)).decode() if len(etag) == 32 else ""
    except ValueError:
        md5 = ""
    modified: dt.datetime = head["LastModified"]
    return Change(FINALIZED, name, int(head.get("ContentLength") or 0), str(head.get("ContentType") or ""), md5,
                  int(modified.timestamp()))  # fmt: skip
