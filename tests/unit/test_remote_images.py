"""The crop route's fetch guard against a real local HTTPS server (a self-signed certificate).

The server runs on 127.0.0.1, which the guard never lets a real request reach: these tests
resolve the allow-listed test host to it and allow that one address explicitly; the tests of the
address rule use the production ``is_public`` and ``resolve``."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from common.adapters.http_images import FetchPolicy, check_url, fetch_image, is_public
from common.errors import DependencyError, FetchRefused, NotFoundError

HOST = "images.test"
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 1000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen.append((self.path, self.headers.get("Host")))  # type: ignore[attr-defined]
        if self.path == "/slow":
            time.sleep(1.5)
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST},DNS:other.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture(scope="module")
def server(tls: tuple[Path, Path]) -> Iterator[Any]:
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.seen = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[1]), str(tls[0]))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.routes = {
        "/img.png": (200, {"Content-Type": "image/png"}, PNG),
        "/hop": (302, {"Location": "/img.png"}, b""),
        "/away": (302, {"Location": "https://other.test/img.png"}, b""),
        "/plain": (302, {"Location": f"http://{HOST}/img.png"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {}, b"y" * 5000),
        "/broken": (500, {}, b""),
        "/slow": (200, {}, PNG),
    }
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def policy_for(server: Any, tls: tuple[Path, Path], **changes: Any) -> FetchPolicy:
    loopback = ipaddress.ip_address("127.0.0.1")
    base = FetchPolicy(
        hosts=frozenset({HOST}),
        max_bytes=2000,
        timeout_s=1.0,
        ports=frozenset({server.server_address[1]}),
        resolver=lambda host, port: ["127.0.0.1"],
        address_allowed=lambda address: address == loopback,
        ssl_context=ssl.create_default_context(cafile=str(tls[1])),
    )
    return FetchPolicy(**{**base.__dict__, **changes})


def url(server: Any, path: str, host: str = HOST, scheme: str = "https") -> str:
    return f"{scheme}://{host}:{server.server_address[1]}{path}"


def test_an_allowed_image_is_fetched_with_its_host_name(server: Any, tls: tuple[Path, Path]) -> None:
    assert fetch_image(url(server, "/img.png"), policy_for(server, tls)) == PNG
    assert server.seen[-1][1] == f"{HOST}:{server.server_address[1]}"  # TLS and Host name the host, not the IP


def test_a_redirect_on_the_same_host_is_followed(server: Any, tls: tuple[Path, Path]) -> None:
    assert fetch_image(url(server, "/hop"), policy_for(server, tls)) == PNG


@pytest.mark.parametrize("path", ["/away", "/plain"])
def test_a_redirect_off_the_allow_list_or_off_https_is_refused(server: Any, tls: tuple[Path, Path], path: str) -> None:
    with pytest.raises(FetchRefused):
        fetch_image(url(server, path), policy_for(server, tls))


def test_redirect_loops_are_cut(server: Any, tls: tuple[Path, Path]) -> None:
    with pytest.raises(FetchRefused, match="redirects"):
        fetch_image(url(server, "/loop"), policy_for(server, tls))


def test_size_time_and_status_limits(server: Any, tls: tuple[Path, Path]) -> None:
    policy = policy_for(server, tls)
    with pytest.raises(FetchRefused, match="limit"):
        fetch_image(url(server, "/big"), policy)
    with pytest.raises(NotFoundError):
        fetch_image(url(server, "/missing"), policy)
    with pytest.raises(DependencyError, match="500"):
        fetch_image(url(server, "/broken"), policy)
    with pytest.raises(DependencyError):
        fetch_image(url(server, "/slow"), policy)


def test_a_certificate_for_another_name_is_refused(server: Any, tls: tuple[Path, Path]) -> None:
    policy = policy_for(server, tls, hosts=frozenset({"evil.test"}))
    with pytest.raises(DependencyError, match="SSL|certificate"):
        fetch_image(url(server, "/img.png", host="evil.test"), policy)


def test_the_default_address_rule_refuses_this_machine(server: Any, tls: tuple[Path, Path]) -> None:
    policy = policy_for(server, tls, address_allowed=is_public)
    before = len(server.seen)
    with pytest.raises(FetchRefused, match="non-public"):
        fetch_image(url(server, "/img.png"), policy)
    assert len(server.seen) == before  # refused before connecting


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"],
)  # fmt: skip
def test_private_loopback_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


def test_public_addresses_are(server: Any) -> None:
    assert is_public(ipaddress.ip_address("151.101.1.1")) and is_public(ipaddress.ip_address("2a04:4e42::1"))


def test_any_private_answer_among_several_refuses(server: Any, tls: tuple[Path, Path]) -> None:
    policy = policy_for(server, tls, resolver=lambda h, p: ["151.101.1.1", "127.0.0.1"], address_allowed=is_public)
    with pytest.raises(FetchRefused):
        fetch_image(url(server, "/img.png"), policy)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("http://images.openfoodfacts.org/x.jpg", "https"),
        ("https://evil.example/x.jpg", "only from"),
        ("https://user:pw@images.openfoodfacts.org/x.jpg", "user info"),
        ("https://images.openfoodfacts.org:8443/x.jpg", "port"),
        ("file:///etc/passwd", "https"),
        ("https://images.openfoodfacts.org:99999/x.jpg", "valid URL"),
    ],
)
def test_urls_outside_the_policy_are_refused_before_any_connection(bad: str, reason: str) -> None:
    with pytest.raises(FetchRefused, match=reason):
        check_url(bad, FetchPolicy(hosts=frozenset({"images.openfoodfacts.org"})))
