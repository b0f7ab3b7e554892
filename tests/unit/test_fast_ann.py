"""The plain ANN search below Flask (``common.api.fast_ann``) answers as the Flask route does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder

from common.api import create_app
from common.api.fast_ann import FastAnnSearch
from common.bootstrap import Container
from common.domain import StoredObject
from tests.unit.test_api import fake_container, server_timing
from tests.unit.test_pipeline import jpeg


def loaded_app(tmp_path: Path, **overrides: Any) -> tuple[Any, FastAnnSearch, Container]:
    container = fake_container(tmp_path, **overrides)
    for i, (a, b) in enumerate([((255, 0, 0), (0, 0, 255)), ((250, 10, 0), (0, 255, 0)), ((0, 0, 250), (255, 255, 0))]):
        container.detect(StoredObject(container.images.put("uploads", f"p{i}.png", jpeg(a, b))))
    app = create_app(container)
    fast = app.wsgi_app.app  # StripTrailingSlash(FastAnnSearch(...))
    assert isinstance(fast, FastAnnSearch)
    return app, fast, container


def environ(path: str, method: str = "GET", origin: str | None = None) -> dict[str, Any]:
    headers = {"Origin": origin} if origin else {}
    built: dict[str, Any] = EnvironBuilder(path=path, method=method, headers=headers).get_environ()
    return built


@pytest.mark.parametrize("origin", [None, "https://hunger.openfoodfacts.org", "https://elsewhere.example"])
@pytest.mark.parametrize("query", ["?count=3", "?count=5", "", "?count=003"])
def test_fast_answer_is_the_flask_answer(tmp_path: Path, query: str, origin: str | None) -> None:
    app, fast, _ = loaded_app(tmp_path, cors_origins="https://hunger.openfoodfacts.org")
    path = f"/api/v1/ann/search/2{query}"
    assert fast.answer(environ(path, origin=origin)) is not None  # this request takes the fast path
    headers = {"Origin": origin} if origin else {}
    quick = app.test_client().get(path, headers=headers)
    flask = Client(fast.inner).get(path, headers=headers)  # the Flask route, same request
    assert quick.status_code == flask.status_code == 200
    # the same keys in the same order with the same values (orjson may spell a float otherwise:
    # 0.0000577 for 5.77e-05), and the same trailing newline
    fast_body, flask_body = json.loads(quick.data), json.loads(flask.data)
    assert fast_body == flask_body and fast_body["count"] == len(fast_body["results"]) > 0
    assert list(fast_body) == list(flask_body) == ["results", "count", "query_logo_id"]
    assert [list(r) for r in fast_body["results"]] == [list(r) for r in flask_body["results"]]
    assert quick.data.endswith(b"}\n") and flask.data.endswith(b"}\n")
    timing, length = "Server-Timing", "Content-Length"
    assert {k: v for k, v in quick.headers.items() if k not in (timing, length)} == {
        k: v for k, v in flask.headers.items() if k not in (timing, length)
    }
    assert quick.headers[length] == str(len(quick.data)) and set(quick.headers.keys()) == set(flask.headers.keys())
    stages = {"vector", "knn", "app"}
    assert set(server_timing(quick.headers[timing])) == set(server_timing(flask.headers[timing])) == stages
    echoed = quick.headers.get("Access-Control-Allow-Origin")
    assert echoed == (origin if origin == "https://hunger.openfoodfacts.org" else None)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/ann/search/2?count=3&paginate=true"),
        ("GET", "/api/v1/ann/search/2?annotated=false"),
        ("GET", "/api/v1/ann/search/2?count=3&count=4"),
        ("GET", "/api/v1/ann/search/2?count=0"),
        ("GET", "/api/v1/ann/search/2?count=501"),
        ("GET", "/api/v1/ann/search/0"),
        ("GET", "/api/v1/ann/search/999"),  # no such logo: Flask's 404
        ("GET", "/api/v1/ann/search/x1"),
        ("GET", "/api/v1/ann/search"),
        ("HEAD", "/api/v1/ann/search/2"),
        ("OPTIONS", "/api/v1/ann/search/2"),
    ],
)
def test_every_other_request_goes_to_flask(tmp_path: Path, method: str, path: str) -> None:
    _, fast, _ = loaded_app(tmp_path)
    assert fast.answer(environ(path, method)) is None


def test_errors_and_slashes_keep_their_flask_answers(tmp_path: Path) -> None:
    app, _, _ = loaded_app(tmp_path)
    client = app.test_client()
    missing = client.get("/api/v1/ann/search/999?count=3")
    assert missing.status_code == 404 and "999" in missing.get_json()["error"]
    assert client.get("/api/v1/ann/search/1?count=0").status_code == 400
    slashed = client.get("/api/v1/ann/search/1/?count=2")
    assert slashed.status_code == 200 and slashed.get_json()["count"] == 2


def test_a_failing_store_is_answered_by_flask(tmp_path: Path) -> None:
    app, fast, container = loaded_app(tmp_path)
    container.store.close()  # every read now fails
    assert fast.answer(environ("/api/v1/ann/search/1?count=2")) is None
    response = app.test_client().get("/api/v1/ann/search/1?count=2")
    assert response.status_code == 503 and response.is_json


def test_debug_mode_leaves_everything_to_flask(tmp_path: Path) -> None:
    app, fast, _ = loaded_app(tmp_path)
    app.debug = True
    assert fast.answer(environ("/api/v1/ann/search/1?count=2")) is None
    assert app.test_client().get("/api/v1/ann/search/1?count=2").status_code == 200
