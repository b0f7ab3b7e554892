"""What the cloud functions do with an event: decode, call one use case, apply the retry rule.

- ``PermanentError`` (bad event, bad image) is logged and acknowledged: not retried
  (outcome ``rejected``).
- ``TransientError`` propagates: the platform retries with back-off, then dead-letters
  (outcome ``retry``; the use case has counted the attempt against the image).
- ``FaultError`` (``ConfigError``, ``InternalError``) propagates too, logged as an error
  (outcome ``fault``): the event is retried and then kept in the dead-letter queue until the
  deployment is fixed, so nothing is lost.
Each invocation writes one structured log line with its per-stage timings.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from typing import Any

from flask import Flask, Response

from common.bootstrap import Container, get_container
from common.domain import ObjectRef, StoredObject
from common.errors import InvalidEventError, LogoAnnError, PermanentError, TransientError
from common.messages import QueueMessage, decode_message
from common.observability import configure_logging, log_invocation
from common.pipeline.detect import delete_object

logger = logging.getLogger("logo_ann.function")

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
# GCS generations are digits; S3-compatible stores give version ids or ETag-derived tokens
GENERATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_BACKFILL_MESSAGE_BYTES = 16_384
MAX_OBJECT_NAME_BYTES = 1024  # Cloud Storage's limit: anything longer is not a real object


def storage_ref(data: Any) -> StoredObject:
    """The stored object a storage event names (reference, size, content type); bad fields are
    ``InvalidEventError``."""
    if not isinstance(data, dict):
        raise InvalidEventError("storage event data must be a JSON object")
    bucket, name = data.get("bucket"), data.get("name")
    if not isinstance(bucket, str) or not bucket or not isinstance(name, str) or not name:
        raise InvalidEventError("storage event needs non-empty string 'bucket' and 'name'")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_OBJECT_NAME_BYTES:
        raise InvalidEventError(f"storage event 'name' is longer than {MAX_OBJECT_NAME_BYTES} bytes")
    generation = str(data.get("generation") or "0")
    if not GENERATION.fullmatch(generation):
        raise InvalidEventError(f"storage event 'generation' must be a version token, got {generation[:40]!r}")
    size = data.get("size")
    try:
        size_value = int(size) if size is not None else None
    except (TypeError, ValueError):
        raise InvalidEventError(f"storage event 'size' must be an integer, got {str(size)[:40]!r}") from None
    content_type = data.get("contentType") if isinstance(data.get("contentType"), str) else None
    return StoredObject(ObjectRef(bucket, name, generation), size_value, content_type)


def pubsub_payload(data: Any) -> bytes:
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        raise InvalidEventError("Pub/Sub event needs 'message.data' (base64)")
    try:
        return base64.b64decode(message["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEventError(f"'message.data' is not base64: {exc}") from exc


def queue_message(data: Any) -> QueueMessage:
    """The crops or re-vote message a push from the work queue (the crops topic) carries."""
    return decode_message(pubsub_payload(data))


def backfill_object(data: Any) -> Any:
    """The storage object data a backfill message carries (the ``finalized`` event's shape)."""
    payload = pubsub_payload(data)
    if len(payload) > MAX_BACKFILL_MESSAGE_BYTES:
        raise InvalidEventError(f"backfill message of {len(payload)} bytes exceeds {MAX_BACKFILL_MESSAGE_BYTES}")
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"backfill message is not JSON: {exc}") from exc


def handle_storage_event(event: Any) -> None:
    configure_logging()
    _run(event, _storage)


def handle_queue_event(event: Any) -> None:
    configure_logging()
    _run(event, _crops)


def _storage(event: Any) -> dict[str, Any]:
    """A storage event, or a backfill message (an existing object, pushed from the backfill topic)."""
    kind = event["type"]
    if kind not in (FINALIZED, DELETED, PUBLISHED):
        raise InvalidEventError(f"detect does not handle events of type {kind!r}")
    data = backfill_object(event.data) if kind == PUBLISHED else event.data
    stored = storage_ref(data)
    container = get_container()
    if kind == DELETED:
        return {"image": stored.ref.name, "removed_logos": len(delete_object(stored.ref, container.detect_deps()))}
    result = container.detect(stored)
    return {
        "image_id": result.image_id,
        "status": result.status,
        "error": result.error,
        "logos": len(result.logos),
        "timings_ms": result.timings.ms,
    }


def _crops(event: Any) -> dict[str, Any]:
    """A work-queue message, to the handler the embedded pipeline uses too (the log line keeps
    its name: ``crops <outcome>``)."""
    if event["type"] != PUBLISHED:
        raise InvalidEventError(f"embed_index does not handle events of type {event['type']!r}")
    result = get_container().handler().handle_message(queue_message(event.data))
    if isinstance(result, int):
        return {"revoted": result}
    return {
        "image_id": result.image_id,
        "status": result.status,
        "embedded": len(result.embedded),
        "indexed": len(result.indexed),
        "timings_ms": result.timings.ms,
    }


def _run(event: Any, handler: Any) -> None:
    start = time.perf_counter()
    fields: dict[str, Any] = {"event_id": _attr(event, "id"), "event_type": _attr(event, "type")}
    try:
        fields.update(handler(event))
        fields["outcome"] = "done"
    except PermanentError as exc:
        fields.update(outcome="rejected", error=str(exc))
    except TransientError as exc:
        fields.update(outcome="retry", error=str(exc))
        raise
    except LogoAnnError as exc:  # FaultError (ConfigError, InternalError): kept for the operator
        fields.update(outcome="fault", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        fields["total_ms"] = round((time.perf_counter() - start) * 1000, 3)
        outcome = fields.get("outcome")
        level = (
            logging.INFO
            if outcome == "done"
            else logging.WARNING
            if outcome in ("rejected", "retry")
            else logging.ERROR
        )
        log_invocation(logger, f"{handler.__name__.strip('_')} {fields.get('outcome', 'error')}", level, **fields)


def _attr(event: Any, name: str) -> Any:
    try:
        return event[name]
    except (KeyError, TypeError):
        return None


def handle_http(request: Any) -> Response:
    """Dispatch a functions-framework request to the search API app (built once); one JSON log
    line per request: route, method, status and the ``Server-Timing`` stages in milliseconds."""
    configure_logging()
    app = _search_app()
    with app.request_context(request.environ):
        response = app.full_dispatch_request()
        _log_request(response)
        return response


def _log_request(response: Response) -> None:
    from flask import request as current

    rule = current.url_rule
    stages: dict[str, float] = {}
    for part in response.headers.get("Server-Timing", "").split(","):
        name, _, duration = part.strip().partition(";dur=")
        try:
            stages[name] = float(duration)
        except ValueError:
            continue
    fields: dict[str, Any] = {
        "route": rule.rule if rule is not None else None,
        "method": current.method,
        "status": response.status_code,
        "stages_ms": stages,
    }
    if rule is None:
        fields["path"] = current.path[:200]
    level = logging.WARNING if response.status_code >= 500 else logging.INFO
    log_invocation(logger, f"search {response.status_code}", level, **fields)


_app: tuple[Container, Flask] | None = None


def _search_app() -> Flask:
    """The search app over the process's container, built once (again if the container changes)."""
    global _app
    container = get_container()
    if _app is None or _app[0] is not container:
        from common.api import create_app

        _app = (container, create_app(container))
    return _app[1]
