"""The storage bridge: SeaweedFS filer notifications → GCS-shaped storage CloudEvents for ``detect``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from common.domain import ObjectRef
from common.entrypoints import storage_ref
from stack.storage_bridge import DELETED, FINALIZED, Bridge, Change, cloud_event, deliver, object_changes
from tests.conftest import free_port

BUCKET = "uploads"
MD5 = "XUFAKrxLKna5cZ2REBfFkg=="  # base64 md5 of b"hello", as the filer reports it


def entry(name: str, size: int = 5, mime: str = "image/jpeg", directory: bool = False) -> dict[str, Any]:
    """An entry as SeaweedFS 4.48's filer webhook sends it (the fields the bridge reads)."""
    if directory:
        return {"name": name, "is_directory": True, "attributes": {"mtime": 1795870404, "file_mode": 2147484153}}
    return {"name": name, "chunks": [{"size": size}], "attributes": {
        "file_size": size, "mtime": 1795870404, "mime": mime, "md5": MD5}}  # fmt: skip


def note(event: str, key: str, old: Any = None, new: Any = None, parent: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"delete_chunks": True, "signatures": [969201314]}
    if old is not None:
        message["old_entry"] = old
    if new is not None:
        message["new_entry"] = new
    if parent is not None:
        message["new_parent_path"] = parent
    return {"event_type": event, "key": key, "message": message}


def test_create_and_update_of_a_file_are_finalized() -> None:
    created = note("create", "/buckets/uploads/a/b.jpg", new=entry("b.jpg"), parent="/buckets/uploads/a")
    updated = note("update", "/buckets/uploads/a/b.jpg", old=entry("b.jpg"), new=entry("b.jpg", 6),
                   parent="/buckets/uploads/a")  # fmt: skip
    assert object_changes(created, BUCKET) == [Change(FINALIZED, "a/b.jpg", 5, "image/jpeg", MD5, 1795870404)]
    assert [(c.kind, c.name, c.size) for c in object_changes(updated, BUCKET)] == [(FINALIZED, "a/b.jpg", 6)]


def test_delete_and_rename() -> None:
    deleted = note("delete", "/buckets/uploads/c.txt", old=entry("c.txt"))
    renamed = note("rename", "/buckets/uploads/old.jpg", old=entry("old.jpg"), new=entry("new.jpg"),
                   parent="/buckets/uploads/x")  # fmt: skip
    assert [(c.kind, c.name) for c in object_changes(deleted, BUCKET)] == [(DELETED, "c.txt")]
    assert [(c.kind, c.name) for c in object_changes(renamed, BUCKET)] == [(DELETED, "old.jpg"),
                                                                           (FINALIZED, "x/new.jpg")]  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [note("create", "/buckets/uploads/a", new=entry("a", directory=True), parent="/buckets/uploads"),
     note("create", "/buckets/other/a.jpg", new=entry("a.jpg"), parent="/buckets/other"),
     note("create", "/buckets/uploads/.uploads/x/0001.part", new=entry("0001.part"),
          parent="/buckets/uploads/.uploads/x"),
     note("create", "/buckets/uploads", new=entry("uploads", directory=True), parent="/buckets")],
    ids=["folder", "other-bucket", "multipart-staging", "the-bucket-itself"],
)  # fmt: skip
def test_changes_that_are_not_objects_of_the_bucket_are_ignored(body: dict[str, Any]) -> None:
    assert object_changes(body, BUCKET) == []


def test_the_cloud_event_is_what_detect_decodes() -> None:
    change = Change(FINALIZED, "a/b.jpg", 1234, "image/jpeg", MD5, 1795870404)
    headers, body = cloud_event(change, BUCKET, "e0123abcd")
    assert headers["ce-type"] == FINALIZED and headers["ce-specversion"] == "1.0"
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/uploads"
    assert headers["ce-subject"] == "objects/a/b.jpg"
    assert headers["ce-time"] == "2026-11-28T12:53:24Z"  # 1795870404 s after the epoch
    stored = storage_ref(json.loads(body))
    ref, size, content_type = stored.ref, stored.size, stored.content_type
    assert (ref, size, content_type) == (ObjectRef(BUCKET, "a/b.jpg", "e0123abcd"), 1234, "image/jpeg")
    numeric = json.loads(cloud_event(change, BUCKET, "1700000000000001")[1])
    assert numeric["generation"] == "1700000000000001"


def test_event_ids_are_stable_per_object_version() -> None:
    change = Change(FINALIZED, "a.jpg", 1, "image/jpeg", "", 0)
    same = {cloud_event(change, BUCKET, "e1")[0]["ce-id"] for _ in range(3)}
    assert len(same) == 1
    assert cloud_event(change, BUCKET, "e2")[0]["ce-id"] not in same
    assert cloud_event(Change(DELETED, "a.jpg", 1, "", "", 0), BUCKET, "e1")[0]["ce-id"] not in same


class Scripted(ThreadingHTTPServer):
    """Answers POSTs with the scripted statuses in turn (then 204), recording the ce-ids."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.statuses = list(statuses)
        self.seen: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: Scripted

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.headers.get("ce-id"))
        self.send_response(self.server.statuses.pop(0) if self.server.statuses else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def scripted(request: pytest.FixtureRequest) -> Iterator[Scripted]:
    server = Scripted(request.param)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


FAST = {"first_backoff_s": 0.01, "max_backoff_s": 0.02, "timeout_s": 5.0}


@pytest.mark.parametrize("scripted", [[503, 500, 429]], indirect=True)
def test_retries_server_errors_until_acknowledged(scripted: Scripted) -> None:
    assert deliver(scripted.url, {"ce-id": "x"}, b"{}", deadline_s=5, **FAST)
    assert scripted.seen == ["x"] * 4


@pytest.mark.parametrize("scripted", [[400]], indirect=True)
def test_a_refusal_is_final(scripted: Scripted) -> None:
    assert deliver(scripted.url, {"ce-id": "x"}, b"{}", deadline_s=5, **FAST)
    assert scripted.seen == ["x"]


@pytest.mark.parametrize("scripted", [[503] * 1000], indirect=True)
def test_gives_up_at_the_deadline(scripted: Scripted) -> None:
    assert not deliver(scripted.url, {"ce-id": "x"}, b"{}", deadline_s=0.2, **FAST)
    assert len(scripted.seen) >= 2


def test_unreachable_function_is_retried_then_given_up() -> None:
    assert not deliver(f"http://127.0.0.1:{free_port()}/", {}, b"{}", deadline_s=0.2, **FAST)


@pytest.mark.parametrize("scripted", [[]], indirect=True)
def test_bridge_reads_the_version_and_skips_vanished_objects(scripted: Scripted) -> None:
    versions = {"a.jpg": ObjectRef(BUCKET, "a.jpg", "e77")}
    bridge = Bridge(BUCKET, scripted.url, lambda bucket, name: versions.get(name), deadline_s=1, **FAST)
    for name in ("a.jpg", "gone.jpg"):
        assert bridge.handle(note("create", f"/buckets/uploads/{name}", new=entry(name), parent="/buckets/uploads"))
    change = Change(FINALIZED, "a.jpg", 5, "image/jpeg", MD5, 1795870404)
    assert scripted.seen == [cloud_event(change, BUCKET, "e77")[0]["ce-id"]]
