"""The local stack's Eventarc: SeaweedFS filer notifications become storage CloudEvents for ``detect``.

In production Eventarc posts a ``google.cloud.storage.object.v1.finalized`` CloudEvent to the
``detect`` function when an object lands in the bucket. SeaweedFS implements no S3 bucket
notifications, but its filer POSTs a webhook for every change (``notification.toml``,
``[notification.webhook]``), in its own shape::

    {"event_type": "create" | "update" | "delete" | "rename",
     "key": "/buckets/<bucket>/<name>",
     "message": {"old_entry": {...}, "new_entry": {...}, "new_parent_path": "/buckets/<bucket>/..."}}

This server receives those webhooks and posts binary-mode CloudEvents (``ce-*`` headers, a JSON
body shaped like a GCS object resource) to ``detect``; it retries connection errors, 5xx, 408 and
429 with exponential back-off, as Eventarc does, and answers the filer only once the function has
acknowledged (or refused for good), so the filer's own retries cover a bridge that gives up.
The filer's notification queue is in memory (a restart loses what it holds); a sweep of the
bucket (``stack/storage_sweep.py``) sends what no notification announced, so every object
reaches ``detect`` at least once, as with Eventarc.

    python -m stack.storage_events --port P --detect-url URL --s3-endpoint URL --bucket B
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("storage_bridge")

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"
_RETRY_STATUS = frozenset({408, 429})
_INTERNAL = (".uploads/",)  # SeaweedFS's multipart staging folder inside a bucket


@dataclasses.dataclass(frozen=True)
class Change:
    """One object change in the bucket, as the filer reports it."""

    kind: str  # FINALIZED or DELETED
    name: str
    size: int
    content_type: str
    md5: str  # base64, as GCS's md5Hash
    mtime: int  # seconds since the epoch


def object_changes(body: Mapping[str, Any], bucket: str) -> list[Change]:
    """The changes of one filer notification that concern objects of ``bucket`` (folders ignored)."""
    message = body.get("message") or {}
    prefix = f"/buckets/{bucket}/"
    old, new = message.get("old_entry"), message.get("new_entry")
    event = body.get("event_type")
    changes = []
    if event in ("delete", "rename") and old:
        changes.append(_change(DELETED, str(body.get("key", "")), old, prefix))
    if event in ("create", "update", "rename") and new:
        parent = message.get("new_parent_path") or str(body.get("key", "")).rsplit("/", 1)[0]
        changes.append(_change(FINALIZED, f"{parent.rstrip('/')}/{new.get('name', '')}", new, prefix))
    return [change for change in changes if change is not None]


def _change(kind: str, path: str, entry: Mapping[str, Any], prefix: str) -> Change | None:
    if entry.get("is_directory") or not path.startswith(prefix):
        return None
    name = path[len(prefix) :]
    if not name or name.startswith(_INTERNAL):
        return None
    attributes = entry.get("attributes") or {}
    return Change(kind, name, int(attributes.get("file_size") or 0), str(attributes.get("mime") or ""),
                  str(attributes.get("md5") or ""), int(attributes.get("mtime") or 0))  # fmt: skip


def event_generation(token: str) -> str:
    """The ``generation`` field of the event: the version token ``S3ImageStore`` derives for the
    object (SeaweedFS has no numeric generations), so a replaced object is a new image."""
    return token


def cloud_event(change: Change, bucket: str, token: str) -> tuple[dict[str, str], bytes]:
    """Binary-mode CloudEvent (headers, body) for a change; ``token`` identifies the object version."""
    generation = event_generation(token)
    when = dt.datetime.fromtimestamp(change.mtime, dt.UTC).isoformat().replace("+00:00", "Z")
    data = {
        "kind": "storage#object",
        "id": f"{bucket}/{change.name}/{generation}",
        "bucket": bucket,
        "name": change.name,
        "generation": generation,
        "metageneration": "1",
        "contentType": change.content_type or "application/octet-stream",
        "size": str(change.size),
        "md5Hash": change.md5,
        "storageClass": "STANDARD",
        "timeCreated": when,
        "updated": when,
    }
    event_id = hashlib.sha256(f"{change.kind}|{bucket}|{change.name}|{token}".encode()).hexdigest()[:32]
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": change.kind,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{change.name}",
        "ce-time": when,
    }
    return headers, json.dumps(data).encode()


def deleted_token(change: Change) -> str:
    """A version token for a deleted object (it can no longer be read): its checksum and date."""
    return "d" + hashlib.sha256(f"{change.md5}|{change.mtime}".encode()).hexdigest()[:24]


def deliver(url: str, headers: Mapping[str, str], body: bytes, *, deadline_s: float = 120.0,
            first_backoff_s: float = 0.5, max_backoff_s: float = 8.0, timeout_s: float = 60.0) -> bool:  # fmt: skip
    """POST until a final answer: True when acknowledged (2xx) or refused for good (other 4xx)."""
    give_up = time.monotonic() + deadline_s
    backoff = first_backoff_s
    attempt = 0
    while True:
        attempt += 1
        status = _post(url, headers, body, timeout_s)
        if status is not None and 200 <= status < 300:
            return True
        if status is not None and status < 500 and status not in _RETRY_STATUS:
            log.error("%s refused event %s for good (HTTP %s)", url, headers.get("ce-id"), status)
            return True
        if time.monotonic() + backoff > give_up:
            log.error("giving up on event %s after %d attempts (last: %s)", headers.get("ce-id"), attempt, status)
            return False
        log.warning("event %s: attempt %d got %s; retrying in %.1fs", headers.get("ce-id"), attempt, status, backoff)
        time.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)


def _post(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> int | None:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


class Bridge:
    """Turns filer notifications for one bucket into CloudEvents posted to ``detect_url``."""

    def __init__(self, bucket: str, detect_url: str, stat: Callable[[str, str], Any], **delivery: float) -> None:
        self.bucket, self.detect_url, self._stat, self._delivery = bucket, detect_url, stat, delivery
        self._lock = threading.Lock()
        self._in_flight: collections.Counter[tuple[str, str]] = collections.Counter()
        self.delivered: set[tuple[str, str]] = set()  # (name, token) of finalized objects detect has taken

    def handle(self, body: Mapping[str, Any]) -> bool:
        """Deliver every change of one notification; False when one could not be delivered."""
        delivered = True
        for change in object_changes(body, self.bucket):
            token = self.token(change)
            if token is None:
                log.info("%s/%s is gone already; its deletion will follow", self.bucket, change.name)
                continue
            delivered = self.send(change, token) and delivered
        return delivered

    def send(self, change: Change, token: str) -> bool:
        """Post one change to ``detect`` (with retries); remembers finalized objects it delivered."""
        key = (change.name, token)
        headers, payload = cloud_event(change, self.bucket, token)
        log.info("%s %s/%s as event %s", change.kind.rsplit(".", 1)[-1], self.bucket, change.name, headers["ce-id"])
        with self._lock:
            self._in_flight[key] += 1
        ok = False
        try:
            ok = deliver(self.detect_url, headers, payload, **self._delivery)
        finally:
            with self._lock:
                self._in_flight[key] -= 1
                if ok and change.kind == FINALIZED:
                    self.delivered.add(key)
        return ok

    def state(self, name: str, token: str) -> str:
        """``delivered``, ``in flight`` or ``new`` for one version of an object."""
        with self._lock:
            if (name, token) in self.delivered:
                return "delivered"
            return "in flight" if self._in_flight[(name, token)] > 0 else "new"

    def token(self, change: Change) -> str | None:
        if change.kind == DELETED:
            return deleted_token(change)
        current = self._stat(self.bucket, change.name)  # the version S3ImageStore will read
        return None if current is None else str(current.generation)


class _Handler(BaseHTTPRequestHandler):
    server: BridgeServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._reply(200 if self.path == "/health" else 404)

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            log.error("not a JSON notification: %r", raw[:200])
            self._reply(400)
            return
        try:
            ok = isinstance(body, dict) and self.server.bridge.handle(body)
        except Exception:  # noqa: BLE001 - the filer retries; keep serving
            log.exception("notification failed")
            ok = False
        self._reply(200 if ok else 503)

    def _reply(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)


class BridgeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], bridge: Bridge) -> None:
        super().__init__(address, _Handler)
        self.bridge = bridge
