"""Fetching an image by URL for the crop route, without becoming an open proxy: the
``RemoteImages`` port over HTTPS (``common.ports.remote_images``).

``HttpImages(policy)`` is the adapter the composition root builds; ``fetch_image(url, policy)``
refuses (``FetchRefused``, a 403) unless every hop of the request:

- is ``https`` on an allow-listed host (``LOGO_ANN_CROP_HOSTS``) and an allowed port, with no
  user info in the URL;
- resolves only to public addresses (never private, loopback, link-local, shared, reserved or
  multicast, IPv4-mapped IPv6 included; unless a network is allowed by
  ``LOGO_ANN_CROP_FETCH_NETWORKS``), and connects to the address it checked, so a DNS answer
  that changes between the check and the connection (rebinding) cannot reach inside;
- stays on allow-listed hosts when redirected (at most ``max_redirects`` hops, each checked again).

The body is read up to ``max_bytes`` (a larger ``Content-Length`` is refused before reading) and
the whole fetch, redirects included, must finish within ``timeout_s``. 404 and 410 become
``NotFoundError``; other failures (timeouts, refused connections, 5xx) ``DependencyError``.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable

from common.errors import DependencyError, FetchRefused, NotFoundError
from common.ports.remote_images import DEPENDENCY

__all__ = ["DEPENDENCY", "FetchPolicy", "HttpImages", "check_url", "fetch_image", "is_public", "public_or_within"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DependencyError(DEPENDENCY, f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IpAddress) -> bool:
    """Whether ``address`` is a public unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def public_or_within(networks: tuple[IpNetwork, ...]) -> Callable[[IpAddress], bool]:
    """``is_public``, or inside one of ``networks`` (``LOGO_ANN_CROP_FETCH_NETWORKS``: a mirror in
    one's own network, a test's listener on 127.0.0.1)."""
    if not networks:
        return is_public

    def allowed(address: IpAddress) -> bool:
        return is_public(address) or any(address in network for network in networks)

    return allowed


@dataclasses.dataclass(frozen=True)
class FetchPolicy:
    hosts: frozenset[str]
    max_bytes: int = 30_000_000
    timeout_s: float = 10.0
    max_redirects: int = 3
    ports: frozenset[int] = frozenset({443})
    resolver: Callable[[str, int], list[str]] = resolve
    address_allowed: Callable[[IpAddress], bool] = is_public
    ssl_context: ssl.SSLContext | None = None


class HttpImages:
    """``RemoteImages`` under one ``FetchPolicy`` (the crop settings' hosts, ports, networks, limits)."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    @property
    def hosts(self) -> frozenset[str]:
        return self.policy.hosts

    def check(self, url: str) -> None:
        check_url(url, self.policy)

    def fetch(self, url: str) -> bytes:
        return fetch_image(url, self.policy)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to ``host`` (SNI, certificate, Host header) over a socket to the checked ``address``."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def check_url(url: str, policy: FetchPolicy) -> tuple[str, int, str]:
    """``(host, port, path?query)`` of an allowed URL, or ``FetchRefused``."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise FetchRefused(f"not a valid URL: {exc}") from None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        raise FetchRefused("only https image URLs are fetched")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("image URLs may not carry user info")
    if host not in policy.hosts:
        raise FetchRefused(f"images are fetched only from {', '.join(sorted(policy.hosts))}; not from {host!r}")
    if port not in policy.ports:
        raise FetchRefused(f"port {port} is not allowed")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, target


def checked_address(host: str, port: int, policy: FetchPolicy) -> str:
    addresses = policy.resolver(host, port)
    if not addresses:
        raise DependencyError(DEPENDENCY, f"{host} has no address")
    for address in addresses:
        if not policy.address_allowed(ipaddress.ip_address(address.split("%")[0])):
            raise FetchRefused(f"{host} resolves to a non-public address")
    return addresses[0]


def fetch_image(url: str, policy: FetchPolicy) -> bytes:
    """The bytes at ``url`` under ``policy`` (see the module docstring)."""
    deadline = time.monotonic() + policy.timeout_s
    context = policy.ssl_context or ssl.create_default_context()
    for _ in range(policy.max_redirects + 1):
        host, port, target = check_url(url, policy)
        address = checked_address(host, port, policy)
        status, location, body = _get(host, port, address, target, context, policy, deadline)
        if status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if status == 200:
            return body
        if status in (404, 410):
            raise NotFoundError(f"the image host answered {status} for this URL")
        raise DependencyError(DEPENDENCY, f"{host} answered {status}")
    raise FetchRefused(f"more than {policy.max_redirects} redirects")


def _get(
    host: str, port: int, address: str, target: str, context: ssl.SSLContext, policy: FetchPolicy, deadline: float
) -> tuple[int, str | None, bytes]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DependencyError(DEPENDENCY, f"no answer within {policy.timeout_s} s")
    conn = _PinnedHTTPS(host, port, address, context, remaining)
    try:
        conn.request("GET", target, headers={"Accept": "image/*", "User-Agent": "logo-ann"})
        response = conn.getresponse()
        if response.status != 200:
            return response.status, response.getheader("Location"), b""
        return 200, None, _read_limited(response, policy, deadline)
    except (OSError, http.client.HTTPException) as exc:
        raise DependencyError(DEPENDENCY, f"fetching from {host} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def _read_limited(response: http.client.HTTPResponse, policy: FetchPolicy, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchRefused(f"the image is {declared} bytes, above the limit of {policy.max_bytes}")
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(65536):
        size += len(chunk)
        if size > policy.max_bytes:
            raise FetchRefused(f"the image is larger than the limit of {policy.max_bytes} bytes")
        if time.monotonic() > deadline:
            raise DependencyError(DEPENDENCY, f"the image did not arrive within {policy.timeout_s} s")
        chunks.append(chunk)
    return b"".join(chunks)
