"""The person at the machine: annotating right after ``logo-ann serve``, with no sign-in.

``logo-ann serve`` on loopback with no ``LOGO_ANN_API_TOKEN`` is one person's tool on their own
machine; asking them for an Open Food Facts password (checked online) before a first label would
make the page useless offline. So a write that presents no credentials at all is recorded as
``local:<OS user>`` when **every** one of these holds:

1. the server enabled it at start-up (``enable``, kept as the app's ``local_user``): every
   address it is bound to is a loopback address (read from the bound sockets, not from the command
   line or a request), no API token is set, and the pipeline is not the cloud's
   (``LOGO_ANN_PIPELINE=platform``). The cloud ``search`` function and any app nobody enabled
   never have it;
2. the request comes from a loopback peer (``REMOTE_ADDR``: the socket's, not a header);
3. it names the server by a loopback name in ``Host`` (``localhost``, ``127.x.y.z``, ``[::1]``), so
   a DNS-rebound name cannot reach it from a web page elsewhere;
4. a browser request is same-origin: ``Origin`` (when sent) is this ``Host``, and
   ``Sec-Fetch-Site`` (when sent) is ``same-origin`` or ``none``, so another site open in the same
   browser cannot annotate through it.

Credentials, when sent, are always verified as before (``common.api.auth``): a signed-in person is
recorded under their Open Food Facts name, a service under ``LOGO_ANN_TOKEN_USER``.
"""

from __future__ import annotations

import getpass
import ipaddress
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.datastructures import Headers

from common.auth import Identity
from common.settings import Settings

KIND = "local"
SAME_SITE = ("same-origin", "none")


def is_loopback(address: str | None) -> bool:
    """``127.0.0.0/8``, ``::1`` and IPv4-mapped loopback; anything else (names included) is not."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def local_user_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "user"
    return f"local:{user}"


def applies(settings: Settings, bound_hosts: Iterable[str]) -> bool:
    """Whether a server bound to ``bound_hosts`` with ``settings`` may record the local user."""
    hosts = list(bound_hosts)
    if settings.api_token or settings.pipeline == "platform" or not hosts:
        return False
    return all(is_loopback(h) for h in hosts)


def enable(settings: Settings, bound_hosts: Iterable[str]) -> Identity | None:
    """Called by ``logo-ann serve`` once its sockets are bound: the identity it grants (kept as the
    app's ``local_user``), or None when it grants none."""
    return Identity(local_user_name(), KIND) if applies(settings, bound_hosts) else None


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header (``[::1]:8000`` → ``::1``, ``localhost:80`` → ``localhost``)."""
    return urllib.parse.urlsplit(f"//{host_header}").hostname or ""


def request_allows(environ: Mapping[str, Any], headers: Mapping[str, str] | Headers) -> bool:
    """Rules 2 to 4 of the module docstring for one request."""
    if not is_loopback(environ.get("REMOTE_ADDR")):
        return False
    host = headers.get("Host", "")
    name = host_name(host)
    if name != "localhost" and not is_loopback(name):
        return False
    origin = headers.get("Origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != host:
        return False
    return headers.get("Sec-Fetch-Site", "none") in SAME_SITE


def local_identity(
    granted: Identity | None, settings: Settings, environ: Mapping[str, Any], headers: Mapping[str, str] | Headers
) -> Identity | None:
    """The local user for this request (``granted``: what ``enable`` returned, None when it was never
    called), or None (the settings are checked again: a token set since wins)."""
    identity = granted
    if identity is None or settings.api_token or settings.pipeline == "platform":
        return None
    return identity if request_allows(environ, headers) else None


def server_hosts(server: Any) -> list[str]:
    """The addresses a waitress server is bound to (one socket or several)."""
    listen = getattr(server, "effective_listen", None)
    if listen is not None:
        return [str(host) for host, _ in listen]
    return [str(server.effective_host)]
