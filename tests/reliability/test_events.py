"""Malformed storage events and Pub/Sub messages through the functions' entry points.

Real ``cloudevents.http.CloudEvent`` objects go to ``handle_storage_event`` and
``handle_queue_event`` over a container of fakes and the real SQLite store. A malformed event
is acknowledged (the handler returns) and leaves one log line saying why; a transient failure
raises so that the platform retries.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

import common.bootstrap
from common.bootstrap import Container
from common.entrypoints import DELETED, FINALIZED, PUBLISHED, handle_queue_event, handle_storage_event
from common.errors import DependencyError
from common.messages import MAX_MESSAGE_BYTES
from tests.api_support import api_container, two_squares
from tests.reliability.conftest import Record


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = api_container(tmp_path)
    previous = common.bootstrap.set_container(built)
    yield built
    common.bootstrap.set_container(previous)


def storage_event(data: Any, kind: str = FINALIZED) -> CloudEvent:
    return CloudEvent({"type": kind, "source": "//storage.googleapis.com/projects/_/buckets/b", "id": "e1"}, data)


def pubsub_event(payload: bytes | str | None, kind: str = PUBLISHED, raw: Any = None) -> CloudEvent:
    data = (
        raw
        if raw is not None
        else {
            "message": {
                "data": base64.b64encode(payload if isinstance(payload, bytes) else str(payload).encode()).decode(),
                "messageId": "m1",
            },
            "subscription": "projects/p/subscriptions/s",
        }
    )
    return CloudEvent({"type": kind, "source": "//pubsub.googleapis.com/projects/p/topics/t", "id": "m1"}, data)


def rejection(caplog: pytest.LogCaptureFixture) -> str:
    """The error of the one invocation log line, which must say the event was rejected."""
    lines = [r for r in caplog.records if r.name == "logo_ann.function"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["outcome"] == "rejected" and lines[0].levelno == logging.WARNING
    assert fields["error"] and len(fields["error"]) < 500
    return str(fields["error"])


GOOD = {"bucket": "b", "name": "a.png", "generation": "1", "size": "10", "contentType": "image/png"}
STORAGE = {
    "data is a string": ("not json", FINALIZED, "JSON object"),
    "data is a list": ([GOOD], FINALIZED, "JSON object"),
    "data is null": (None, FINALIZED, "JSON object"),
    "bucket missing": ({**GOOD, "bucket": None}, FINALIZED, "bucket"),
    "name missing": ({k: v for k, v in GOOD.items() if k != "name"}, FINALIZED, "name"),
    "name empty": ({**GOOD, "name": ""}, FINALIZED, "name"),
    "name is a number": ({**GOOD, "name": 12}, FINALIZED, "name"),
    "bucket is an object": ({**GOOD, "bucket": {"x": 1}}, FINALIZED, "bucket"),
    "generation not digits": ({**GOOD, "generation": "1; DROP TABLE image"}, FINALIZED, "generation"),
    "generation negative": ({**GOOD, "generation": -5}, FINALIZED, "generation"),
    "size not a number": ({**GOOD, "size": "big"}, FINALIZED, "size"),
    "size is a list": ({**GOOD, "size": [1]}, FINALIZED, "size"),
    "name over 1024 bytes": ({**GOOD, "name": "n" * 5000}, FINALIZED, "1024"),
    "wrong event type (archived)": (GOOD, "google.cloud.storage.object.v1.archived", "type"),
    # detect takes Pub/Sub events only as backfill messages: storage data in one is refused
    "Pub/Sub event to detect without a backfill message": (GOOD, PUBLISHED, "message.data"),
}


@pytest.mark.parametrize("case", STORAGE)
def test_malformed_storage_event_is_acknowledged(
    container: Container, case: str, caplog: pytest.LogCaptureFixture, record: Record
) -> None:
    data, kind, word = STORAGE[case]
    with caplog.at_level(logging.INFO):
        handle_storage_event(storage_event(data, kind))  # returns: acknowledged
    error = rejection(caplog)
    record("events", f"storage event: {case}", f"acknowledged, logged: {error}")
    assert word.lower() in error.lower()
    assert container.store.find_images("b", "a.png") == []


def message(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "image_id": 1,
        "image": {"bucket": "b", "name": "a.png", "generation": "1"},
        "logos": [{"logo_id": 1, "box": [0.1, 0.1, 0.4, 0.4]}],
    }
    body.update(changes)
    return body


def encoded(body: Any) -> bytes:
    return json.dumps(body).encode()


CROPS = {
    "message field missing": (pubsub_event(None, raw={"subscription": "s"}), "message.data"),
    "data not base64": (pubsub_event(None, raw={"message": {"data": "@@not base64@@"}}), "base64"),
    "data is a number": (pubsub_event(None, raw={"message": {"data": 12}}), "message.data"),
    "payload not JSON": (pubsub_event(b"\xff\xfe garbage"), "JSON"),
    "payload a JSON list": (pubsub_event(encoded([1, 2])), "object"),
    "unknown schema version": (pubsub_event(encoded(message(schema_version=99))), "schema_version"),
    "schema version missing": (
        pubsub_event(encoded({k: v for k, v in message().items() if k != "schema_version"})),
        "schema_version",
    ),
    "image_id a string": (pubsub_event(encoded(message(image_id="1"))), "image_id"),
    "image_id a boolean": (pubsub_event(encoded(message(image_id=True))), "image_id"),
    "image_id zero": (pubsub_event(encoded(message(image_id=0))), "image_id"),
    "image missing": (pubsub_event(encoded(message(image=None))), "image"),
    "bucket empty": (pubsub_event(encoded(message(image={"bucket": "", "name": "a"}))), "bucket"),
    "logos not a list": (pubsub_event(encoded(message(logos={"1": 1}))), "logos"),
    "logo without a box": (pubsub_event(encoded(message(logos=[{"logo_id": 1}]))), "box"),
    "box of 3 numbers": (pubsub_event(encoded(message(logos=[{"logo_id": 1, "box": [0, 0, 1]}]))), "box"),
    "box outside [0, 1]": (pubsub_event(encoded(message(logos=[{"logo_id": 1, "box": [0, 0, 2, 1]}]))), "box"),
    "box empty": (pubsub_event(encoded(message(logos=[{"logo_id": 1, "box": [0.5, 0.5, 0.5, 0.9]}]))), "empty"),
    "box of strings": (pubsub_event(encoded(message(logos=[{"logo_id": 1, "box": ["a", 0, 1, 1]}]))), "box"),
    "payload over the size limit": (pubsub_event(encoded(message(padding="x" * (MAX_MESSAGE_BYTES + 10)))), "exceeds"),
    "wrong event type (storage to embed)": (pubsub_event(encoded(message()), kind=FINALIZED), "type"),
}


@pytest.mark.parametrize("case", CROPS)
def test_malformed_crops_message_is_acknowledged(
    container: Container, case: str, caplog: pytest.LogCaptureFixture, record: Record
) -> None:
    event, word = CROPS[case]
    with caplog.at_level(logging.INFO):
        handle_queue_event(event)
    error = rejection(caplog)
    record("events", f"crops message: {case}", f"acknowledged, logged: {error[:120]}")
    assert word.lower() in error.lower()
    assert container.store.embedding_count() == 0


def upload(container: Container, name: str = "a.png") -> dict[str, Any]:
    ref = container.images.put("b", name, two_squares((255, 0, 0), (0, 0, 255)))
    return {"bucket": "b", "name": name, "generation": ref.generation}


def test_message_for_an_unknown_image_is_acknowledged(
    container: Container, caplog: pytest.LogCaptureFixture, record: Record
) -> None:
    with caplog.at_level(logging.INFO):
        handle_queue_event(pubsub_event(encoded(message(image_id=424242))))
    (line,) = [r for r in caplog.records if r.name == "logo_ann.function"]
    record("events", "crops message for an image that does not exist", f"acknowledged: {line.fields['status']}")
    assert line.fields["outcome"] == "done" and line.fields["status"] == "missing"  # type: ignore[attr-defined]


def test_transient_storage_failure_raises_for_a_retry(container: Container, record: Record) -> None:
    data = upload(container)
    container.images.down = True
    with pytest.raises(DependencyError):
        handle_storage_event(storage_event(data))
    (image,) = container.store.find_images("b", "a.png")
    container.images.down = False
    handle_storage_event(storage_event(data))  # the platform's retry succeeds
    (after,) = container.store.find_images("b", "a.png")
    record("events", "object store down during detect", f"raised (retry), then {after.status} on the retry")
    assert image.attempts == 1 and after.status == "indexed"


def test_transient_embedder_failure_raises_for_a_retry(container: Container, record: Record) -> None:
    container.embedder.down = True
    with pytest.raises(DependencyError):  # the in-process queue hands the failure to the publisher
        handle_storage_event(storage_event(upload(container)))
    container.embedder.down = False
    (image,) = container.store.find_images("b", "a.png")
    body = message(
        image_id=image.id,
        logos=[{"logo_id": lg.id, "box": lg.box.as_list()} for lg in container.store.logos_of_image(image.id)],
    )
    handle_queue_event(pubsub_event(encoded(body)))
    record("events", "model server down during embed", "raised (retry), indexed on the redelivered message")
    assert container.store.get_image(image.id).status == "indexed"  # type: ignore[union-attr]
    assert container.store.embedding_count() == 2


def test_deleted_event_is_handled_by_detect(container: Container, record: Record) -> None:
    data = upload(container)
    handle_storage_event(storage_event(data))
    handle_storage_event(storage_event(data, DELETED))
    (image,) = container.store.find_images("b", "a.png")
    record("events", "object.deleted after finalized", f"image {image.status}, index {container.index.count()} docs")
    assert image.status == "deleted" and container.index.count() == 0
