"""Who may change state, injection through every parameter, and secrets kept out of logs.

The API runs over the real SQLite store (and the real PostgreSQL where reachable) with fake
models. Requests come from a non-local address unless a test says otherwise, as they would
through a load balancer.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import common.bootstrap
from common.api import create_app
from common.api.openapi import document
from common.bootstrap import Container
from common.domain import ObjectRef, StoredObject
from common.entrypoints import FINALIZED, handle_storage_event
from common.errors import DependencyError
from tests.api_support import api_container, two_squares
from tests.conftest import free_port
from tests.reliability.backends import database_url  # noqa: F401
from tests.reliability.conftest import Record
from tests.reliability.test_events import storage_event

TOKEN = "tok-7f1c2e9a-sekret"
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
# every POST route that changes state, with a request that would succeed when allowed
MUTATING: dict[str, dict[str, Any]] = {
    "/api/v1/images": {"data": two_squares((255, 0, 0), (0, 0, 255)), "query_string": {"name": "x.png"}},
    "/api/v1/search/image": {"data": two_squares((255, 0, 0), (0, 0, 255)), "query_string": {"store": "true"}},
    "/api/v1/admin/reindex": {},
    "/api/v1/admin/reconcile": {"query_string": {"requeue": "true", "older_than": "0"}},
    "/api/v1/admin/calibrate": {},
    "/api/v1/admin/clusters/rebuild": {},
}
# every route that records who changed something: a verified Open Food Facts user or the token
USER_WRITES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/images/logos/annotate"): {
        "json": {"annotations": [{"logo_id": 1, "type": "brand", "value": "x"}]}
    },
    ("PUT", "/api/v1/images/logos/<int:logo_id>"): {"json": {"type": "brand", "value": "x"}},
    ("POST", "/api/v1/images/logos/<int:logo_id>/reset"): {},
    ("POST", "/api/v1/images/logos/update"): {
        "query_string": {"source_type": "brand", "source_value": "x", "target_type": "brand", "target_value": "y"}
    },
    ("POST", "/api/v1/clusters/<int:cluster_id>/annotate"): {"json": {"type": "brand", "value": "x"}},
    ("POST", "/api/v1/annotations/operations/<int:operation_id>/revert"): {},
    ("POST", "/api/v1/images/logos/<int:logo_id>/prediction/accept"): {},
    ("POST", "/api/v1/images/logos/<int:logo_id>/prediction/reject"): {},
}
# writes on something the two seed images may not make (a quest, an operation, a prediction): the
# verified caller may get past the identity check to a 404, which is all these tests are about
NEEDS_A_TARGET = {
    rule for _, rule in USER_WRITES if "cluster_id" in rule or "operation_id" in rule or "prediction" in rule
}
READ_ONLY_POSTS = {"/api/v1/ann/batch", "/api/v1/search/embedding"}  # plus search/image without store=true


def app_over(tmp_path: Path, **settings: Any) -> tuple[Any, Container]:
    container = api_container(tmp_path, **settings)
    for colours in (((255, 0, 0), (0, 0, 255)), ((250, 9, 0), (0, 250, 0))):
        ref = container.images.put("uploads", f"seed-{colours[1]}.png", two_squares(*colours))
        container.detect(StoredObject(ref))
    return create_app(container), container


def test_every_post_route_is_classified(tmp_path: Path) -> None:
    app, _ = app_over(tmp_path)
    posts = {r.rule for r in app.url_map.iter_rules() if "POST" in r.methods}
    user_posts = {path for method, path in USER_WRITES if method == "POST"}
    assert posts == set(MUTATING) | READ_ONLY_POSTS | user_posts  # a new POST route must be listed above
    others = {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods & {"PUT", "DELETE", "PATCH"}}
    assert others == {key for key in USER_WRITES if key[0] != "POST"}


@pytest.mark.parametrize(("method", "rule"), list(USER_WRITES))
def test_user_writes_need_a_verified_identity_even_from_this_machine(
    tmp_path: Path, method: str, rule: str, record: Record
) -> None:
    from tests.doubles.product_opener import ProductOpenerAuthDouble

    auth_pl = ProductOpenerAuthDouble().start()
    try:
        app, _ = app_over(tmp_path, off_auth_url=auth_pl.url, api_token=TOKEN)
        client = app.test_client()
        path, request = re.sub(r"<int:\w+>", "1", rule), USER_WRITES[(method, rule)]
        anonymous = [client.open(path, method=method, environ_base=where, **request) for where in (REMOTE, LOCAL)]
        client.set_cookie("session", "user_id&alice&user_session&guessed")
        forged = client.open(path, method=method, environ_base=LOCAL, **request)
        client.delete_cookie("session")
        service = client.open(path, method=method, headers={"Authorization": f"Bearer {TOKEN}"}, **request)
    finally:
        auth_pl.stop()
    record(
        "security",
        f"{method} {path}: no credentials (remote, local) / forged session cookie / service token",
        f"{anonymous[0].status_code}, {anonymous[1].status_code} / {forged.status_code} / {service.status_code}",
    )
    assert [r.status_code for r in anonymous] == [401, 401] and forged.status_code == 403
    assert all(r.is_json and r.get_json()["error"] for r in (*anonymous, forged))
    allowed = (200, 201, 204, 404) if rule in NEEDS_A_TARGET else (200, 201, 204)
    assert service.status_code in allowed, service.get_data(as_text=True)
    assert len(auth_pl.requests) == 1  # only the forged cookie was asked about; it was refused


@pytest.mark.parametrize("path", MUTATING)
def test_mutating_routes_need_a_token_or_a_local_caller(tmp_path: Path, path: str, record: Record) -> None:
    app, container = app_over(tmp_path)
    client = app.test_client()
    images_before = container.store.embedding_count()
    refused = client.post(path, environ_base=REMOTE, **MUTATING[path])
    local = client.post(path, environ_base=LOCAL, **MUTATING[path])
    record(
        "security",
        f"POST {path}, no token configured, from a remote address / from 127.0.0.1",
        f"{refused.status_code} / {local.status_code}",
    )
    assert refused.status_code == 403 and "LOGO_ANN_API_TOKEN" in refused.get_json()["error"]
    assert local.status_code < 300, local.get_data(as_text=True)
    assert container.store.embedding_count() >= images_before


@pytest.mark.parametrize("path", MUTATING)
def test_mutating_routes_with_a_configured_token(tmp_path: Path, path: str, record: Record) -> None:
    app, container = app_over(tmp_path, api_token=TOKEN)
    client = app.test_client()
    before = (container.store.embedding_count(), container.index.count())
    answers = {}
    for label, headers, env in (
        ("none, local", {}, LOCAL),
        ("none", {}, REMOTE),
        ("wrong", {"Authorization": "Bearer nope"}, REMOTE),
        ("not bearer", {"Authorization": TOKEN}, REMOTE),
    ):
        answers[label] = client.post(path, headers=headers, environ_base=env, **MUTATING[path])
    unchanged = (container.store.embedding_count(), container.index.count()) == before
    good = client.post(path, headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=REMOTE, **MUTATING[path])
    record(
        "security",
        f"POST {path} with LOGO_ANN_API_TOKEN set: no token (even local), wrong, not bearer / right",
        f"{', '.join(str(a.status_code) for a in answers.values())} / {good.status_code}",
    )
    assert all(a.status_code == 401 for a in answers.values())
    assert unchanged and good.status_code < 300
    assert all(TOKEN not in a.get_data(as_text=True) for a in [*answers.values(), good])


def test_read_routes_stay_public_with_limits(tmp_path: Path, record: Record) -> None:
    app, container = app_over(tmp_path, api_token=TOKEN, max_body_bytes=50_000)
    client = app.test_client()
    logo_id = container.store.random_logo_with_embedding()
    public = [
        client.get(f"/api/v1/ann/search/{logo_id}?count=5", environ_base=REMOTE),
        client.post("/api/v1/ann/batch", json={"logo_ids": [logo_id], "count": 3}, environ_base=REMOTE),
    ]
    over_count = client.get(f"/api/v1/ann/search/{logo_id}?count=501", environ_base=REMOTE)
    over_ids = client.get(
        "/api/v1/images/logos?" + "&".join(f"logo_ids={i}" for i in range(1, 600)), environ_base=REMOTE
    )
    over_body = client.post(
        "/api/v1/search/embedding",
        data=b"[" + b"0.1," * 20_000 + b"0]",
        content_type="application/json",
        environ_base=REMOTE,
    )
    record(
        "security",
        "read routes from a remote address with a token configured; count=501; 599 ids; 80 kB body",
        f"{[r.status_code for r in public]}; {over_count.status_code}; {over_ids.status_code}; {over_body.status_code}",
    )
    assert all(r.status_code == 200 for r in public)
    assert over_count.status_code == 400 and over_ids.status_code == 400 and over_body.status_code == 413


INJECTIONS = (
    "1' OR '1'='1",
    "1; DROP TABLE image; --",
    "0 UNION SELECT name FROM sqlite_master",
    "1)) OR 1=1--",
    "'; DELETE FROM logo; --",
    "%27%20OR%201=1",
    "1\x00",
    "ロゴ' --",
    "-1e308",
    "?",
)


def operations() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(path, method, parameters) of every documented operation."""
    found = []
    for path, methods in document()["paths"].items():
        for method, spec in methods.items():
            found.append((path, method, spec.get("parameters", [])))
    return found


def snapshot(container: Container) -> dict[str, Any]:
    store = container.store
    ids = sorted(i for batch, _ in store.iter_embeddings() for i in batch)
    first = store.get_image(1)
    return {
        "embeddings": ids,
        "logos": [lg.id for lg in store.get_logos(ids)],
        "image1": (first.ref, first.status) if first else None,
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_injection_through_every_parameter(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, record: Record
) -> None:
    if backend == "postgres":
        from common.adapters.postgres_store import PostgresStore

        url = request.getfixturevalue("database_url")
        container = api_container(tmp_path, store=PostgresStore(url), api_token=TOKEN)
        for colours in (((255, 0, 0), (0, 0, 255)), ((250, 9, 0), (0, 250, 0))):
            ref = container.images.put("uploads", f"seed-{colours[1]}.png", two_squares(*colours))
            container.detect(StoredObject(ref))
        app = create_app(container)
    else:
        app, container = app_over(tmp_path, api_token=TOKEN)
    client = app.test_client()
    before = snapshot(container)
    statuses: dict[int, int] = {}
    sent = 0
    for path, method, params in operations():
        for payload in INJECTIONS:
            escaped = payload.replace("/", "%2F").replace("?", "%3F")
            url = re.sub(r"\{[a-z_]+\}", lambda _, value=escaped: value, path)
            query = {p["name"]: payload for p in params if p["in"] == "query"}
            body = two_squares((1, 2, 3), (4, 5, 6)) if method == "post" and "image" in path else None
            kwargs: dict[str, Any] = {"json": {"logo_ids": [payload], "embedding": payload, "count": payload}}
            if body is not None or "admin" in path:
                kwargs = {"data": body} if body is not None else {}
            answer = client.open(
                url,
                method=method.upper(),
                query_string=query,
                environ_base=REMOTE,
                headers={"Authorization": f"Bearer {TOKEN}"},
                **kwargs,
            )
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            sent += 1
            assert answer.status_code < 500, (path, method, payload, answer.get_data(as_text=True)[:300])
    after = snapshot(container)
    stored = container.store.find_images("uploads", INJECTIONS[0])
    record(
        "security",
        f"{len(INJECTIONS)} SQL injection strings through every path and query parameter of every route ({backend})",
        f"{sent} requests, statuses {dict(sorted(statuses.items()))}; no 5xx; data intact",
    )
    assert after["image1"] == before["image1"] and set(before["embeddings"]) <= set(after["embeddings"])
    assert set(before["logos"]) <= set(after["logos"])
    assert stored and stored[0].ref.name == INJECTIONS[0]  # the name went in as a value, not as SQL
    if backend == "sqlite":
        tables = sqlite3.connect(tmp_path / "meta.sqlite3").execute("SELECT name FROM sqlite_master").fetchall()
        assert ("image",) in tables and ("logo",) in tables and ("embedding",) in tables
    container.store.close()


# --- secrets ------------------------------------------------------------------------------------
PASSWORD = "pw-Zq8sKx3-secret"
S3_SECRET = "s3-Wm4tR9-secret"


def test_database_password_stays_out_of_errors_and_logs(
    tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, record: Record
) -> None:
    url = f"postgresql://logo:{PASSWORD}@127.0.0.1:{free_port()}/logos?connect_timeout=2"
    container = Container(
        common.settings.load_settings({}, home=tmp_path, store="postgres", database_url=url, api_token=TOKEN)
    )
    previous = common.bootstrap.set_container(container)
    request.addfinalizer(lambda: common.bootstrap.set_container(previous))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DependencyError) as raised:
            handle_storage_event(storage_event({"bucket": "b", "name": "a.png", "generation": "1"}, FINALIZED))
        response = create_app(container).test_client().get("/api/v1/logos/1")
        health = create_app(container).test_client().get("/health")
    texts = [str(raised.value), response.get_data(as_text=True), health.get_data(as_text=True), caplog.text]
    record(
        "security",
        "PostgreSQL unreachable, password in LOGO_ANN_DATABASE_URL",
        f"error: {raised.value}; API answered {response.status_code}; password in no message or log line",
    )
    assert response.status_code == 503
    for text in texts:
        assert PASSWORD not in text and TOKEN not in text


def test_s3_secret_stays_out_of_errors_and_logs(caplog: pytest.LogCaptureFixture, record: Record) -> None:
    from common.adapters.s3_image_store import S3ImageStore

    store = S3ImageStore(f"http://127.0.0.1:{free_port()}", "auto", "AKIDEXAMPLE", S3_SECRET)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DependencyError) as raised:
            store.get(ObjectRef("b", "a.png", "0"))
    record("security", "object store unreachable, S3 secret key configured", f"error: {str(raised.value)[:150]}")
    assert S3_SECRET not in str(raised.value) and S3_SECRET not in caplog.text
