"""``@require_user`` on a route: who may change state, and the name recorded for them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify

from common.api.auth import current_user, require_user
from common.api.context import ApiApp
from common.bootstrap import Container
from common.settings import load_settings
from tests.doubles.product_opener import ProductOpenerAuthDouble

TOKEN = "service-token-123"


@pytest.fixture
def auth_pl() -> Iterator[ProductOpenerAuthDouble]:
    server = ProductOpenerAuthDouble().start()
    server.add_user("alice", "s3cret")
    yield server
    server.stop()


@pytest.fixture
def client(auth_pl: ProductOpenerAuthDouble) -> Any:
    settings = load_settings({}, off_auth_url=auth_pl.url, api_token=TOKEN, token_user="robotoff-sync")
    app = ApiApp("auth-test", Container(settings))
    changes: list[str] = []

    @app.post("/change")
    @require_user
    def change() -> Any:
        changes.append(current_user())
        return jsonify({"by": current_user()})

    app.config["changes"] = changes
    return app.test_client()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_verified_session_cookie_records_its_user(client: Any, auth_pl: ProductOpenerAuthDouble) -> None:
    client.set_cookie("session", auth_pl.open_session("alice", "t-1"))
    response = client.post("/change")
    assert response.status_code == 200 and response.get_json() == {"by": "alice"}


def test_an_unverified_session_cookie_is_refused_and_the_view_never_runs(
    client: Any, auth_pl: ProductOpenerAuthDouble
) -> None:
    client.set_cookie("session", "user_id&alice&user_session&guessed")
    response = client.post("/change")
    assert response.status_code == 403
    assert "did not recognise" in response.get_json()["error"]
    assert client.application.config["changes"] == []


def test_basic_credentials(client: Any) -> None:
    assert client.post("/change", headers=basic("alice", "s3cret")).get_json() == {"by": "alice"}
    refused = client.post("/change", headers=basic("alice", "guess"))
    assert refused.status_code == 403 and refused.get_json()["status"] == 403


def test_no_credentials_is_401_with_a_reason(client: Any) -> None:
    response = client.post("/change")
    assert response.status_code == 401
    assert "sign in" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_service_token_records_the_service_name(client: Any, auth_pl: ProductOpenerAuthDouble) -> None:
    response = client.post("/change", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.get_json() == {"by": "robotoff-sync"}
    assert auth_pl.requests == []  # a token never reaches Product Opener


def test_a_wrong_token_is_not_rescued_by_a_valid_cookie(client: Any, auth_pl: ProductOpenerAuthDouble) -> None:
    client.set_cookie("session", auth_pl.open_session("alice", "t-1"))
    response = client.post("/change", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_a_malformed_authorization_header_is_401(client: Any) -> None:
    assert client.post("/change", headers={"Authorization": "Basic ###"}).status_code == 401


def test_auth_pl_down_is_503_and_changes_nothing(client: Any, auth_pl: ProductOpenerAuthDouble) -> None:
    auth_pl.fail_with = 500
    response = client.post("/change", headers=basic("alice", "s3cret"))
    assert response.status_code == 503
    assert client.application.config["changes"] == []


def test_a_retry_within_the_failure_memory_is_503_with_retry_after(
    client: Any, auth_pl: ProductOpenerAuthDouble
) -> None:
    auth_pl.fail_with = 500
    assert client.post("/change", headers=basic("alice", "s3cret")).status_code == 503
    auth_pl.fail_with = None
    again = client.post("/change", headers=basic("alice", "s3cret"))
    assert again.status_code == 503 and 1 <= int(again.headers["Retry-After"]) <= 5  # LOGO_ANN_AUTH_FAILURE_TTL_S
    assert len(auth_pl.requests) == 1 and client.application.config["changes"] == []


def test_current_user_outside_a_guarded_view_raises() -> None:
    app = Flask("bare")
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        current_user()
