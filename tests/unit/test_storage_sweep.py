"""The storage bridge's sweep: objects no filer notification announced are sent once, and only those."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from stack.storage_bridge import FINALIZED, Change
from stack.storage_sweep import Sweeper

NOW = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC)


class FakeS3:
    """``list_objects_v2`` (paginated) and ``head_object`` over a dict of name -> (body, modified)."""

    def __init__(self, objects: dict[str, tuple[bytes, dt.datetime]]) -> None:
        self.objects = objects

    def get_paginator(self, operation: str) -> FakeS3:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, Bucket: str) -> list[dict[str, Any]]:  # noqa: N803 (boto3's naming)
        contents = [{"Key": k, "ETag": self._etag(k), "LastModified": m} for k, (_, m) in sorted(self.objects.items())]
        return [{"Contents": contents[:2]}, {"Contents": contents[2:]}]

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        body, modified = self.objects[Key]
        return {"ETag": self._etag(Key), "LastModified": modified, "ContentLength": len(body),
                "ContentType": "image/jpeg"}  # fmt: skip

    def _etag(self, name: str) -> str:
        return '"' + hashlib.md5(self.objects[name][0]).hexdigest() + '"'  # noqa: S324 - S3's ETag


class FakeBridge:
    """What the sweep uses of ``Bridge``: token, state and send, recorded."""

    bucket = "uploads"

    def __init__(self, delivered: set[str], in_flight: set[str]) -> None:
        self.delivered, self.in_flight = delivered, in_flight
        self.sent: list[Change] = []

    def token(self, change: Change) -> str:
        return f"g-{change.name}"

    def state(self, name: str, token: str) -> str:
        assert token == f"g-{name}"
        return "delivered" if name in self.delivered else "in flight" if name in self.in_flight else "new"

    def send(self, change: Change, token: str) -> bool:
        self.sent.append(change)
        self.delivered.add(change.name)
        return True


def test_sends_only_old_enough_objects_never_delivered_and_each_once() -> None:
    old, young = NOW - dt.timedelta(seconds=60), NOW - dt.timedelta(seconds=2)
    s3 = FakeS3({"a.jpg": (b"aaa", old), "b.jpg": (b"bbb", young), "c.jpg": (b"ccc", old), "d.jpg": (b"ddd", old),
                 ".uploads/part": (b"p", old)})  # fmt: skip
    bridge = FakeBridge(delivered={"c.jpg"}, in_flight={"d.jpg"})
    sweeper = Sweeper(bridge, s3, grace_s=10.0)  # type: ignore[arg-type]

    assert sweeper.sweep_once(NOW) == 1
    (change,) = bridge.sent
    md5 = base64.b64encode(hashlib.md5(b"aaa").digest()).decode()  # noqa: S324 - as the filer reports it
    assert change == Change(FINALIZED, "a.jpg", 3, "image/jpeg", md5, int(old.timestamp()))

    bridge.in_flight.clear()  # the notification for d.jpg failed for good; b.jpg is old enough now
    later = NOW + dt.timedelta(seconds=30)
    assert sweeper.sweep_once(later) == 2
    assert sorted(c.name for c in bridge.sent) == ["a.jpg", "b.jpg", "d.jpg"]
    assert sweeper.sweep_once(later) == 0  # nothing is sent twice
