"""The three cloud functions, in-process under functions-framework, over fakes.

Events are real ``CloudEvent`` objects sent in binary and structured mode, or the raw Pub/Sub
push body the platform posts; the retry rule is observed as the HTTP status the platform sees
(2xx: acknowledged, 5xx: retried) plus the invocation's structured log line.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import PIL.Image
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

import common.bootstrap as bootstrap
from common.bootstrap import Container
from common.domain import Box, Detection
from common.messages import CropsMessage
from common.observability import JsonFormatter
from common.ports.metadata_store import DELETED, DETECTED
from common.settings import load_settings
from tests.fakes import BruteForceIndex, CannedDetector, ColourEmbedder, DictImageStore, ListQueue

REPO = Path(__file__).resolve().parents[2]
FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED_TYPE = "google.cloud.storage.object.v1.deleted"
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
BUCKET = "uploads"
BOXES = [Box(0.1, 0.1, 0.4, 0.4), Box(0.5, 0.5, 0.9, 0.9)]  # what the canned detector finds


def fakes(tmp_path: Path) -> dict[str, Any]:
    """The adapters of a container over fakes (the queue keeps its messages)."""
    from common.adapters.sqlite_store import SqliteStore

    return {
        "store": SqliteStore(tmp_path / "meta.sqlite3"), "images": DictImageStore(), "queue": ListQueue(),
        "detector": CannedDetector([Detection(box, 0.9, "object") for box in BOXES]),
        "embedder": ColourEmbedder(), "index": BruteForceIndex(),
    }  # fmt: skip


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    """The per-process container, replaced by one over fakes (the search app follows it)."""
    fake = Container(load_settings({}, home=tmp_path), **fakes(tmp_path))
    previous = bootstrap.set_container(fake)
    yield fake
    bootstrap.set_container(previous)


@pytest.fixture(autouse=True)
def log_lines() -> Iterator[io.StringIO]:
    """The structured log lines the functions write (a JSON handler installed before theirs)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def invocations(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "logo_ann.function"]


def client(target: str, signature: str) -> Any:
    source = str(REPO / "functions" / target / "main.py")
    return functions_framework.create_app(target, source, signature).test_client()


def photo() -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def storage_event(data: Any, kind: str = FINALIZED) -> CloudEvent:
    name = data.get("name", "x") if isinstance(data, dict) else "x"
    attributes = {"type": kind, "source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}",
                  "subject": f"objects/{name}", "id": f"evt-{name}-{kind[-7:]}"}  # fmt: skip
    return CloudEvent(attributes, data)


def post(app: Any, event: CloudEvent, structured: bool = False) -> Any:
    headers, body = to_structured(event) if structured else to_binary(event)
    return app.post("/", headers=headers, data=body)


def uploaded(container: Container, name: str = "p1.jpg") -> dict[str, Any]:
    ref = container.images.put(BUCKET, name, photo(), "image/jpeg")
    return {"bucket": BUCKET, "name": name, "generation": ref.generation, "size": "1234", "contentType": "image/jpeg"}


def push_body(payload: bytes | str) -> dict[str, Any]:
    data = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
    message = {"data": data, "attributes": {"schema_version": "1"}, "messageId": "42",
               "publishTime": "2026-01-01T00:00:00.000Z"}  # fmt: skip
    return {"message": message, "subscription": "projects/logo-ann-local/subscriptions/logo-crops-embed-index"}


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
def test_finalized_event_records_the_logos_and_queues_the_crops(
    container: Container, log_lines: io.StringIO, structured: bool
) -> None:
    data = uploaded(container)
    response = post(client("detect", "cloudevent"), storage_event(data), structured)
    assert response.status_code == 200
    (image,) = container.store.find_images(BUCKET, "p1.jpg")
    assert image.status == DETECTED and image.ref.generation == data["generation"]
    assert [logo.box for logo in container.store.logos_of_image(image.id)] == BOXES
    (message,) = container.queue.messages
    assert message.image_id == image.id and [logo.box for logo in message.logos] == BOXES
    (line,) = invocations(log_lines)
    assert line["outcome"] == "done" and line["event_type"] == FINALIZED and line["logos"] == 2


def test_deleted_event_retires_the_image(container: Container, log_lines: io.StringIO) -> None:
    app = client("detect", "cloudevent")
    data = uploaded(container)
    assert post(app, storage_event(data)).status_code == 200
    assert post(app, storage_event({**data, "generation": "0"}, DELETED_TYPE)).status_code == 200
    (image,) = container.store.find_images(BUCKET, "p1.jpg")
    assert image.status == DELETED
    assert container.store.logos_of_image(image.id) == []
    assert invocations(log_lines)[-1]["removed_logos"] == 2


def test_wrong_event_type_is_acknowledged_with_a_log_line(container: Container, log_lines: io.StringIO) -> None:
    data = uploaded(container)
    response = post(client("detect", "cloudevent"), storage_event(data, "google.cloud.storage.object.v1.archived"))
    assert 200 <= response.status_code < 300
    (line,) = invocations(log_lines)
    assert line["outcome"] == "rejected" and "google.cloud.storage.object.v1.archived" in line["error"]
    assert line["severity"] == "WARNING"
    assert container.store.find_images(BUCKET, "p1.jpg") == []


@pytest.mark.parametrize(
    "data",
    [{"bucket": BUCKET}, {"bucket": BUCKET, "name": "a.jpg", "generation": "../12"}, ["not", "an", "object"],
     {"bucket": BUCKET, "name": "a.jpg", "size": "big"}],
    ids=["no-name", "bad-generation", "not-an-object", "bad-size"],
)  # fmt: skip
def test_malformed_storage_data_is_acknowledged(container: Container, log_lines: io.StringIO, data: Any) -> None:
    response = post(client("detect", "cloudevent"), storage_event(data))
    assert 200 <= response.status_code < 300
    assert [line["outcome"] for line in invocations(log_lines)] == ["rejected"]
    assert container.queue.messages == []


def test_transient_failure_is_a_5xx_so_the_platform_retries(container: Container, log_lines: io.StringIO) -> None:
    data = uploaded(container)
    container.images.down = True
    response = post(client("detect", "cloudevent"), storage_event(data))
    assert response.status_code >= 500
    (line,) = invocations(log_lines)
    assert line["outcome"] == "retry" and "storage" in line["error"]
    container.images.down = False  # the retry succeeds
    assert post(client("detect", "cloudevent"), storage_event(data)).status_code == 200
    assert len(container.queue.messages) == 1


def detected_message(container: Container) -> CropsMessage:
    assert post(client("detect", "cloudevent"), storage_event(uploaded(container))).status_code == 200
    (message,) = container.queue.messages
    return message


def test_pubsub_push_body_embeds_and_indexes(container: Container, log_lines: io.StringIO) -> None:
    message = detected_message(container)
    response = client("embed_index", "cloudevent").post("/", json=push_body(message.to_json()))
    assert response.status_code == 200
    logo_ids = [logo.logo_id for logo in message.logos]
    assert container.index.ids() == set(logo_ids)
    assert set(container.store.get_embeddings(logo_ids)) == set(logo_ids)
    line = invocations(log_lines)[-1]
    assert line["event_type"] == PUBLISHED and line["outcome"] == "done" and line["indexed"] == 2


def test_pubsub_cloudevent_in_binary_mode_is_accepted(container: Container) -> None:
    message = detected_message(container)
    data = {"message": {"data": base64.b64encode(message.to_json()).decode(), "messageId": "7"},
            "subscription": "projects/p/subscriptions/s"}  # fmt: skip
    event = CloudEvent({"type": PUBLISHED, "source": "//pubsub.googleapis.com/projects/p/topics/t"}, data)
    assert post(client("embed_index", "cloudevent"), event).status_code == 200
    assert container.index.count() == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [("%%% not base64 %%%", "base64"), (b'{"schema_version": 99, "image_id": 1}', "schema_version"),
     (b"not json", "JSON")],
    ids=["invalid-base64", "unknown-schema", "not-json"],
)  # fmt: skip
def test_bad_crops_messages_are_acknowledged(
    container: Container, log_lines: io.StringIO, payload: bytes | str, reason: str
) -> None:
    response = client("embed_index", "cloudevent").post("/", json=push_body(payload))
    assert 200 <= response.status_code < 300
    (line,) = invocations(log_lines)
    assert line["outcome"] == "rejected" and reason in line["error"]
    assert container.index.count() == 0


def test_embed_index_refuses_a_storage_event(container: Container, log_lines: io.StringIO) -> None:
    response = post(client("embed_index", "cloudevent"), storage_event(uploaded(container)))
    assert 200 <= response.status_code < 300
    (line,) = invocations(log_lines)
    assert line["outcome"] == "rejected" and FINALIZED in line["error"]


def test_embed_index_transient_failure_is_a_5xx(container: Container) -> None:
    message = detected_message(container)
    container.embedder.down = True
    assert client("embed_index", "cloudevent").post("/", json=push_body(message.to_json())).status_code >= 500
    container.embedder.down = False
    assert client("embed_index", "cloudevent").post("/", json=push_body(message.to_json())).status_code == 200
    assert container.index.count() == 2


def test_search_function_serves_the_api(container: Container) -> None:
    message = detected_message(container)
    assert client("embed_index", "cloudevent").post("/", json=push_body(message.to_json())).status_code == 200
    first, second = (logo.logo_id for logo in message.logos)
    response = client("search", "http").get(f"/api/v1/ann/search/{first}?count=5")
    assert response.status_code == 200
    body = response.get_json()
    assert body["query_logo_id"] == first and [r["logo_id"] for r in body["results"]] == [second]
    assert client("search", "http").get("/api/v1/logos/999").status_code == 404


def test_the_container_is_built_once_per_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    built: list[Container] = []

    class CountingContainer(Container):
        def __init__(self, settings: Any) -> None:
            super().__init__(settings, **fakes(tmp_path))
            built.append(self)

    monkeypatch.setattr(bootstrap, "Container", CountingContainer)
    previous = bootstrap.set_container(None)
    request.addfinalizer(lambda: bootstrap.set_container(previous))
    monkeypatch.setenv("LOGO_ANN_HOME", str(tmp_path / "home"))
    detect, search = client("detect", "cloudevent"), client("search", "http")
    assert built == []  # nothing is built at import or app creation
    for name in ("a.jpg", "b.jpg"):
        ref = bootstrap.get_container().images.put(BUCKET, name, photo(), "image/jpeg")
        data = {"bucket": BUCKET, "name": name, "generation": ref.generation}
        assert post(detect, storage_event(data)).status_code == 200
    for _ in range(2):
        assert search.get("/api/v1/ann/search?count=1").status_code == 200
    assert len(built) == 1
    (instance,) = built
    assert instance.detector.calls == 2 and len(instance.queue.messages) == 2


def test_detect_takes_a_backfill_message_as_the_object_s_upload(container: Container, log_lines: io.StringIO) -> None:
    data = uploaded(container, "old.jpg")
    payload = json.dumps({"bucket": BUCKET, "name": "old.jpg", "generation": data["generation"]}).encode()
    app = client("detect", "cloudevent")
    assert app.post("/", json=push_body(payload)).status_code == 200
    assert app.post("/", json=push_body(payload)).status_code == 200  # a repeated delivery changes nothing
    (image,) = container.store.find_images(BUCKET, "old.jpg")
    assert image.status == DETECTED and image.ref.generation == data["generation"]
    assert len(container.store.logos_of_image(image.id)) == 2 and len(container.queue.messages) >= 1
    assert invocations(log_lines)[0]["event_type"] == PUBLISHED


@pytest.mark.parametrize("payload", [b"not json", b'{"bucket": "uploads"}', b"[1, 2]", b"x" * 20_000])
def test_bad_backfill_messages_are_acknowledged(container: Container, log_lines: io.StringIO, payload: bytes) -> None:
    assert client("detect", "cloudevent").post("/", json=push_body(payload)).status_code == 200
    assert [line["outcome"] for line in invocations(log_lines)] == ["rejected"]
    assert container.queue.messages == []


def requests_logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in invocations(stream) if line["message"].startswith("search ")]


def test_the_search_function_logs_one_json_line_per_request(container: Container, log_lines: io.StringIO) -> None:
    message = detected_message(container)
    assert client("embed_index", "cloudevent").post("/", json=push_body(message.to_json())).status_code == 200
    first = message.logos[0].logo_id
    search = client("search", "http")
    found = search.get(f"/api/v1/ann/search/{first}?count=5")
    missing = search.get("/api/v1/logos/999")
    unknown = search.get("/no/such/route")
    lines = requests_logged(log_lines)
    assert [line["status"] for line in lines] == [200, 404, 404]
    hit, gone, nowhere = lines
    assert hit["route"] == "/api/v1/ann/search/<logo_id>" and hit["method"] == "GET"
    header = dict(part.strip().split(";dur=") for part in found.headers["Server-Timing"].split(","))
    assert hit["stages_ms"] == {name: float(ms) for name, ms in header.items()}
    assert {"vector", "knn", "app"} <= set(hit["stages_ms"])
    assert gone["route"] == "/api/v1/logos/<logo_id>" and missing.status_code == 404
    assert nowhere["route"] is None and nowhere["path"] == "/no/such/route" and unknown.status_code == 404
    assert all(line["severity"] == "INFO" for line in lines)
