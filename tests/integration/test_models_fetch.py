"""``offline.models.fetch`` against a real HTTP server on localhost that serves the hub's URL layout."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.errors import DependencyError, ModelError, NotFoundError
from offline.models.fetch import (
    BASE_URL_ENV,
    CATALOGUE,
    LOCK_NAME,
    ModelEntry,
    add_fetch_arguments,
    fetch_all,
    fetch_model,
    run_fetch,
)

DETECTOR = ModelEntry("detector", "acme/logo-detector", "weights/model.onnx", "a" * 40, "detector.onnx")
EMBEDDER = ModelEntry("embedder", "acme/clip", "model.onnx", "b" * 40, "embedder.onnx")
BODY = bytes(range(256)) * 4096  # 1 MiB: several read chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass
class Route:
    body: bytes = BODY
    status: int = 200
    failures: list[str] = dataclasses.field(default_factory=list)  # "truncate", "reset" or "503", consumed in order
    midstream: Callable[[], None] | None = None  # runs after the first half of the body is sent
    requests: int = 0


class Hub:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.url = ""

    def serve(self, entry: ModelEntry, route: Route | None = None) -> Route:
        route = route or Route()
        self.routes[f"/{entry.repo}/resolve/{entry.revision}/{entry.file}"] = route
        return route


def make_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            route = hub.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            route.requests += 1
            failure = route.failures.pop(0) if route.failures else None
            if failure == "503" or route.status != 200:
                self.send_error(503 if failure == "503" else route.status)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            half = len(route.body) // 2
            self.wfile.write(route.body[:half])
            self.wfile.flush()
            if failure == "reset":  # an RST instead of a clean close
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if failure:
                self.close_connection = True
                return
            if route.midstream:
                route.midstream()
            self.wfile.write(route.body[half:])

    return Handler


@pytest.fixture
def hub() -> Iterator[Hub]:
    state = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def fetch(hub: Hub, entry: ModelEntry, dest: Path, **kwargs: object):
    return fetch_model(entry, dest, base_url=hub.url, timeout=5, backoff_s=0, **kwargs)  # type: ignore[arg-type]


def test_downloads_and_verifies_a_model(hub: Hub, tmp_path: Path) -> None:
    hub.serve(DETECTOR)
    dest = tmp_path / "detector.onnx"
    result = fetch(hub, DETECTOR, dest, expected_sha256=sha(BODY))
    assert dest.read_bytes() == BODY
    assert (result.sha256, result.size, result.downloaded, result.recorded) == (sha(BODY), len(BODY), True, False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detector.onnx", "detector.onnx.sha256", LOCK_NAME]


def test_unknown_hash_is_recorded_then_enforced(hub: Hub, tmp_path: Path) -> None:
    route = hub.serve(EMBEDDER)
    dest = tmp_path / "embedder.onnx"
    assert fetch(hub, EMBEDDER, dest).recorded
    assert (tmp_path / "embedder.onnx.sha256").read_text().split() == [sha(BODY), "embedder.onnx"]
    locked = json.loads((tmp_path / LOCK_NAME).read_text())["models"]["embedder"]
    assert (locked["sha256"], locked["revision"], locked["size"]) == (sha(BODY), EMBEDDER.revision, len(BODY))

    again = fetch(hub, EMBEDDER, dest)
    assert (again.downloaded, again.recorded, route.requests) == (False, False, 1)

    dest.unlink()
    route.body = b"tampered" + BODY
    with pytest.raises(ModelError, match="sha256 mismatch"):
        fetch(hub, EMBEDDER, dest)
    assert not dest.exists()


def test_hash_mismatch_leaves_no_file(hub: Hub, tmp_path: Path) -> None:
    hub.serve(DETECTOR)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        fetch(hub, DETECTOR, tmp_path / "detector.onnx", expected_sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_fails_at_once_with_not_found(hub: Hub, tmp_path: Path) -> None:
    route = hub.serve(DETECTOR, Route(status=404))
    with pytest.raises(NotFoundError, match="404"):
        fetch(hub, DETECTOR, tmp_path / "detector.onnx")
    assert route.requests == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failures", [["truncate"], ["reset"], ["503", "truncate"]])
def test_transient_failures_are_retried(hub: Hub, tmp_path: Path, failures: list[str]) -> None:
    route = hub.serve(DETECTOR, Route(failures=list(failures)))
    dest = tmp_path / "detector.onnx"
    result = fetch(hub, DETECTOR, dest, expected_sha256=sha(BODY))
    assert dest.read_bytes() == BODY and result.downloaded
    assert route.requests == len(failures) + 1


def test_gives_up_after_the_last_attempt(hub: Hub, tmp_path: Path) -> None:
    route = hub.serve(DETECTOR, Route(failures=["truncate"] * 5))
    with pytest.raises(DependencyError, match="3 attempts"):
        fetch(hub, DETECTOR, tmp_path / "detector.onnx", attempts=3)
    assert route.requests == 3
    assert list(tmp_path.iterdir()) == []


def test_skips_a_verified_file_and_replaces_a_wrong_one(hub: Hub, tmp_path: Path) -> None:
    route = hub.serve(DETECTOR)
    dest = tmp_path / "detector.onnx"
    dest.write_bytes(BODY)
    assert not fetch(hub, DETECTOR, dest, expected_sha256=sha(BODY)).downloaded
    assert route.requests == 0

    dest.write_bytes(b"a stand-in model")
    assert fetch(hub, DETECTOR, dest, expected_sha256=sha(BODY)).downloaded
    assert dest.read_bytes() == BODY and route.requests == 1


def test_destination_never_holds_a_partial_file(hub: Hub, tmp_path: Path) -> None:
    dest = tmp_path / "detector.onnx"
    dest.write_bytes(b"previous model")
    seen: list[tuple[bytes, list[str]]] = []
    hub.serve(
        DETECTOR, Route(midstream=lambda: seen.append((dest.read_bytes(), sorted(p.name for p in tmp_path.iterdir()))))
    )

    fetch(hub, DETECTOR, dest, expected_sha256=sha(BODY))

    ((during, files),) = seen
    assert during == b"previous model"
    assert any(name.endswith(".part") for name in files)  # the temporary file sits next to the destination
    assert dest.read_bytes() == BODY
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_fetch_all_uses_the_hub_layout(hub: Hub, tmp_path: Path) -> None:
    hub.serve(DETECTOR, Route(body=b"detector weights"))
    hub.serve(EMBEDDER, Route(body=b"embedder weights"))
    results = fetch_all(tmp_path / "models", base_url=hub.url + "/", entries=[DETECTOR, EMBEDDER], backoff_s=0)
    assert [r.path.name for r in results] == ["detector.onnx", "embedder.onnx"]
    assert (tmp_path / "models" / "detector.onnx").read_bytes() == b"detector weights"
    assert set(json.loads((tmp_path / "models" / LOCK_NAME).read_text())["models"]) == {"detector", "embedder"}


def test_cli_entry_point_fetches_the_catalogue_from_the_configured_hub(hub: Hub, tmp_path: Path) -> None:
    for entry in CATALOGUE:
        hub.serve(entry, Route(body=entry.name.encode() * 1000))
    parser = argparse.ArgumentParser()
    add_fetch_arguments(parser)
    args = parser.parse_args(["--dest", str(tmp_path / "models"), "--timeout", "5"])

    assert run_fetch(args, environ={BASE_URL_ENV: hub.url}) == 0

    for entry in CATALOGUE:
        assert (tmp_path / "models" / entry.filename).read_bytes() == entry.name.encode() * 1000


def test_cli_entry_point_reports_failure_with_its_exit_status(hub: Hub, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_fetch_arguments(parser)
    args = parser.parse_args(["--dest", str(tmp_path / "models"), "--base-url", hub.url])
    assert run_fetch(args, environ={}) == 1
    assert not (tmp_path / "models" / "detector.onnx").exists()
