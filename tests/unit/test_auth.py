"""Open Food Facts identities checked against the auth.pl stand-in; the verdict cache; the bound on checks."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common.adapters.product_opener import DEPENDENCY, ProductOpenerAuth, VerdictCache
from common.auth import Credentials, basic_credentials, session_credentials, session_user
from common.errors import DependencyError, RetryLaterError
from common.outbound import Outbound
from tests.doubles.product_opener import ProductOpenerAuthDouble
from tests.doubles.silent_host import SilentHost


@pytest.fixture
def auth_pl() -> Iterator[ProductOpenerAuthDouble]:
    server = ProductOpenerAuthDouble().start()
    server.add_user("alice", "s3cret")
    yield server
    server.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_user_is_read_from_the_session_cookie() -> None:
    assert session_user("user_id&alice&user_session&abc123") == "alice"
    assert session_user("user_session&abc&user_id&bob%40home") == "bob@home"
    assert session_user("user_session&abc") is None
    assert session_credentials("garbage") is None
    assert session_credentials(None) is None


def test_basic_credentials_are_decoded_and_malformed_ones_refused() -> None:
    assert basic_credentials(basic("alice", "pa:ss")) == Credentials("basic", "alice", "pa:ss")
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials(basic("alice", "")) is None
    assert basic_credentials("Digest abc") is None


def test_a_session_of_the_named_user_is_accepted(auth_pl: ProductOpenerAuthDouble) -> None:
    cookie = auth_pl.open_session("alice", "tok-1")
    identity = ProductOpenerAuth(auth_pl.url).verify(Credentials("session", "alice", cookie))
    assert identity is not None and (identity.name, identity.kind) == ("alice", "session")
    assert auth_pl.requests[-1][3] == cookie  # the cookie itself was forwarded


def test_a_cookie_naming_another_user_with_a_real_token_is_refused(auth_pl: ProductOpenerAuthDouble) -> None:
    auth_pl.open_session("alice", "tok-1")
    forged = "user_id&mallory&user_session&tok-1"
    assert ProductOpenerAuth(auth_pl.url).verify(session_credentials(forged)) is None  # type: ignore[arg-type]


def test_basic_is_checked_as_user_id_and_password(auth_pl: ProductOpenerAuthDouble) -> None:
    verifier = ProductOpenerAuth(auth_pl.url)
    assert verifier.verify(Credentials("basic", "alice", "s3cret")) is not None
    assert verifier.verify(Credentials("basic", "alice", "wrong")) is None
    method, _, params, _ = auth_pl.requests[-1]
    assert method == "POST" and params == {"user_id": "alice", "password": "wrong"}


def test_verdicts_are_cached_until_their_ttl(auth_pl: ProductOpenerAuthDouble) -> None:
    now = [0.0]
    verifier = ProductOpenerAuth(auth_pl.url, ttl_s=60, negative_ttl_s=5, cache=VerdictCache(clock=lambda: now[0]))
    good, bad = Credentials("basic", "alice", "s3cret"), Credentials("basic", "alice", "nope")
    for _ in range(3):
        assert verifier.verify(good) is not None
        assert verifier.verify(bad) is None
    assert len(auth_pl.requests) == 2
    now[0] = 6.0  # the refusal expired, the acceptance did not
    verifier.verify(good), verifier.verify(bad)
    assert len(auth_pl.requests) == 3
    now[0] = 61.0
    verifier.verify(good)
    assert len(auth_pl.requests) == 4


def test_a_changed_password_is_not_served_from_the_cache(auth_pl: ProductOpenerAuthDouble) -> None:
    verifier = ProductOpenerAuth(auth_pl.url)
    assert verifier.verify(Credentials("basic", "alice", "s3cret")) is not None
    assert verifier.verify(Credentials("basic", "alice", "s3cret-but-longer")) is None


def test_an_outage_is_not_a_verdict_and_is_remembered_briefly(auth_pl: ProductOpenerAuthDouble) -> None:
    now = [0.0]
    outbound = Outbound(DEPENDENCY, limit=4, failure_ttl_s=5, timer=lambda: now[0])
    verifier = ProductOpenerAuth(auth_pl.url, outbound=outbound)
    auth_pl.fail_with = 503
    with pytest.raises(DependencyError) as first:
        verifier.verify(Credentials("basic", "alice", "s3cret"))
    assert not isinstance(first.value, RetryLaterError)
    auth_pl.fail_with = None
    with pytest.raises(RetryLaterError) as again:  # the same credentials within 5 s: not asked again
        verifier.verify(Credentials("basic", "alice", "s3cret"))
    assert again.value.retry_after_s == 5 and len(auth_pl.requests) == 1
    assert verifier.verify(Credentials("basic", "alice", "wrong")) is None  # other credentials are asked
    now[0] = 5.5
    assert verifier.verify(Credentials("basic", "alice", "s3cret")) is not None  # not cached as a refusal


def test_a_hung_auth_pl_holds_at_most_the_bound() -> None:
    silent = SilentHost().start()
    url = f"http://127.0.0.1:{silent.port}/cgi/auth.pl"
    verifier = ProductOpenerAuth(url, timeout_s=20, outbound=Outbound(DEPENDENCY, limit=2, failure_ttl_s=5))
    try:
        with ThreadPoolExecutor(2) as pool:
            hung = [pool.submit(verifier.verify, Credentials("basic", f"user{i}", "pw")) for i in range(2)]
            assert silent.wait_for(2)
            with pytest.raises(RetryLaterError):  # the old code waited its 20 s on a third connection
                verifier.verify(Credentials("basic", "third", "pw"))
            assert silent.accepted == 2
            silent.release()
            for future in hung:
                with pytest.raises(DependencyError):
                    future.result(timeout=30)
    finally:
        silent.stop()


def test_an_unreachable_auth_pl_is_a_dependency_error(auth_pl: ProductOpenerAuthDouble) -> None:
    url = auth_pl.url
    auth_pl.stop()
    with pytest.raises(DependencyError):
        ProductOpenerAuth(url, timeout_s=2).verify(Credentials("basic", "alice", "s3cret"))


class _Redirector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/steal")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def test_credentials_never_follow_a_redirect() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cgi/auth.pl"
        with pytest.raises(DependencyError, match="302"):
            ProductOpenerAuth(url).verify(Credentials("basic", "alice", "s3cret"))
    finally:
        server.shutdown()
        server.server_close()
