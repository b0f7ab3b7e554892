"""The person at the machine annotates with no sign-in, and only there (``common.api.local_identity``)."""

from __future__ import annotations

import base64
import getpass
from collections.abc import Iterator
from typing import Any

import pytest
import waitress
from flask import Flask, jsonify

from common.api import local_identity
from common.api.auth import current_identity, require_user
from common.api.context import ApiApp
from common.bootstrap import Container
from common.settings import Settings, load_settings
from tests.doubles.product_opener import ProductOpenerAuthDouble

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
ME = f"local:{getpass.getuser()}"


def settings(**overrides: Any) -> Settings:
    return load_settings({}, **{"off_auth_url": "http://127.0.0.1:9/cgi/auth.pl", **overrides})


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["127.0.0.1"], True),
        (["::1"], True),
        (["127.0.0.1", "::1"], True),  # "localhost" bound on both families
        (["127.3.4.5"], True),
        (["0.0.0.0"], False),
        (["::"], False),
        (["192.168.1.20"], False),
        (["127.0.0.1", "0.0.0.0"], False),  # one socket beyond loopback is enough to refuse
        (["localhost"], False),  # a name is not an address: only what the socket reports counts
        ([], False),
    ],
)
def test_only_a_server_bound_to_loopback_alone_enables_it(hosts: list[str], expected: bool) -> None:
    assert local_identity.applies(settings(), hosts) is expected


def test_never_with_a_token_or_in_the_cloud() -> None:
    assert not local_identity.applies(settings(api_token="t0k3n"), ["127.0.0.1"])
    assert not local_identity.applies(settings(pipeline="platform"), ["127.0.0.1"])


def test_the_bound_addresses_are_read_from_waitress_sockets() -> None:
    app = Flask("bound")
    loopback = waitress.create_server(app, host="127.0.0.1", port=0)
    everywhere = waitress.create_server(app, host="0.0.0.0", port=0)
    try:
        assert local_identity.server_hosts(loopback) == ["127.0.0.1"]
        assert local_identity.server_hosts(everywhere) == ["0.0.0.0"]
        assert local_identity.enable(settings(), local_identity.server_hosts(everywhere)) is None
        enabled = local_identity.enable(settings(), local_identity.server_hosts(loopback))
        assert enabled is not None and enabled.name == ME and enabled.kind == "local"
    finally:
        loopback.close()
        everywhere.close()


@pytest.fixture
def auth_pl() -> Iterator[ProductOpenerAuthDouble]:
    server = ProductOpenerAuthDouble().start()
    server.add_user("alice", "s3cret")
    yield server
    server.stop()


def app_with(config: Settings, hosts: list[str] | None) -> Any:
    """A guarded route; ``hosts``: what the server says it is bound to (None: nobody enabled it)."""
    app = ApiApp("local-identity-test", Container(config))
    if hosts is not None:
        app.local_user = local_identity.enable(config, hosts)

    @app.post("/change")
    @require_user
    def change() -> Any:
        who = current_identity()
        return jsonify({"by": who.name, "kind": who.kind})

    return app.test_client()


def post(client: Any, environ: dict[str, str] | None = None, **headers: str) -> Any:
    return client.post("/change", environ_base=environ or LOCAL, headers={"Host": "127.0.0.1:8000", **headers})


def test_a_request_from_the_machine_with_no_credentials_is_the_local_user() -> None:
    client = app_with(settings(), ["127.0.0.1"])
    answer = post(client)
    assert answer.status_code == 200 and answer.get_json() == {"by": ME, "kind": "local"}
    for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert post(client, Host=host).status_code == 200, host
    assert post(client, {"REMOTE_ADDR": "::1"}).status_code == 200
    same_origin = post(client, Origin="http://127.0.0.1:8000", **{"Sec-Fetch-Site": "same-origin"})
    assert same_origin.get_json()["by"] == ME


@pytest.mark.parametrize(
    ("environ", "headers"),
    [
        ({"REMOTE_ADDR": "10.0.0.7"}, {}),  # another machine (a proxy on this one is the operator's setup)
        ({"REMOTE_ADDR": "192.168.1.5"}, {"X-Forwarded-For": "127.0.0.1"}),  # a claimed origin is not the peer
        (LOCAL, {"Host": "rebound.example:8000"}),  # a DNS-rebound name
        (LOCAL, {"Origin": "https://elsewhere.example"}),  # another site in the same browser
        (LOCAL, {"Origin": "http://127.0.0.1:9999"}),  # another port is another origin
        (LOCAL, {"Sec-Fetch-Site": "cross-site"}),
        (LOCAL, {"Sec-Fetch-Site": "same-site"}),
    ],
)
def test_anything_else_still_needs_credentials(environ: dict[str, str], headers: dict[str, str]) -> None:
    answer = post(app_with(settings(), ["127.0.0.1"]), environ, **headers)
    assert answer.status_code == 401 and "sign in" in answer.get_json()["error"]


def test_not_when_the_server_listens_beyond_loopback_or_nobody_enabled_it() -> None:
    assert post(app_with(settings(), ["0.0.0.0"])).status_code == 401
    assert post(app_with(settings(), None)).status_code == 401  # the cloud function, a plain create_app


def test_not_with_a_token_or_the_cloud_pipeline_even_if_enabled_before() -> None:
    for config in (settings(api_token="t0k3n"), settings(pipeline="platform")):
        app = ApiApp("late", Container(config))
        app.local_user = local_identity.Identity(ME, "local")

        @app.post("/change")
        @require_user
        def change() -> Any:
            return jsonify({"by": current_identity().name})

        assert post(app.test_client()).status_code == 401


def test_credentials_sent_from_the_machine_are_verified_not_replaced(auth_pl: ProductOpenerAuthDouble) -> None:
    client = app_with(settings(off_auth_url=auth_pl.url), ["127.0.0.1"])
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    bad = "Basic " + base64.b64encode(b"alice:guess").decode()
    assert post(client, Authorization=good).get_json() == {"by": "alice", "kind": "basic"}
    assert post(client, Authorization=bad).status_code == 403
    assert post(client, Authorization="Bearer guessed").status_code == 401


def test_ip_address_rules() -> None:
    assert local_identity.is_loopback("::ffff:127.0.0.1")
    assert not local_identity.is_loopback("::ffff:10.0.0.1")
    assert not local_identity.is_loopback(None)
    assert not local_identity.is_loopback("")
