"""Product Opener's ``/cgi/auth.pl``: the ``SignIn`` port over HTTP (``common.ports.sign_in``).

- a ``session`` cookie is forwarded as is (``Cookie: session=...``);
- Basic credentials are posted as the form fields ``user_id`` and ``password``;
- ``auth.pl`` answers 200 when the request identifies a user and 403 otherwise (no useful body);
- a redirect is never followed: credentials go to the configured URL only.

Verdicts are cached for ``LOGO_ANN_AUTH_CACHE_TTL_S`` seconds (a refusal for
``LOGO_ANN_AUTH_NEGATIVE_TTL_S``), keyed by a hash of the credentials, so a page that annotates
fifty logos asks Product Opener once. An unreachable or failing ``auth.pl`` (timeout, 5xx) is a
``DependencyError``; it is not a verdict, but it is remembered for those credentials for
``LOGO_ANN_AUTH_FAILURE_TTL_S`` (``RetryLaterError``, 503 with ``Retry-After``), and at most
``LOGO_ANN_AUTH_CONCURRENCY`` checks wait on ``auth.pl`` at once (``common.outbound``): a slow
Product Opener holds that many of the server's threads, never all of them.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from cachetools import TLRUCache

from common.auth import Credentials, Identity
from common.errors import DependencyError
from common.outbound import Outbound

SESSION_COOKIE = "session"
DEPENDENCY = "product opener auth"


class VerdictCache:
    """Verdicts by credential hash, each kept for its own time to live; at most ``size`` entries
    (``cachetools.TLRUCache``: the expired go first, then the least recently used)."""

    def __init__(self, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: TLRUCache[str, tuple[bool, float]] = TLRUCache(size, _expiry, timer=clock)
        self._lock = threading.Lock()

    def get(self, key: str) -> bool | None:
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: str, verdict: bool, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (verdict, ttl_s)


def _expiry(_key: str, entry: tuple[bool, float], now: float) -> float:
    return now + entry[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Credentials go to the configured URL only, never where a redirect points."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class ProductOpenerAuth:
    """Verifies credentials with Product Opener's ``/cgi/auth.pl``; verdicts cached briefly."""

    def __init__(
        self,
        url: str,
        ttl_s: float = 300.0,
        negative_ttl_s: float = 10.0,
        timeout_s: float = 5.0,
        cache: VerdictCache | None = None,
        outbound: Outbound | None = None,
    ) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.timeout_s = timeout_s
        self.cache = cache or VerdictCache()
        self.outbound = outbound or Outbound(DEPENDENCY, limit=4, failure_ttl_s=5.0)
        self._opener = urllib.request.build_opener(_NoRedirect())

    def verify(self, credentials: Credentials) -> Identity | None:
        """The verified identity, or None when Product Opener does not recognise the credentials."""
        key = credentials.cache_key()
        verdict = self.cache.get(key)
        if verdict is None:
            verdict = self.outbound.call(key, lambda: self._ask(credentials))
            self.cache.put(key, verdict, self.ttl_s if verdict else self.negative_ttl_s)
        return Identity(credentials.user, credentials.kind) if verdict else None

    def _ask(self, credentials: Credentials) -> bool:
        request = urllib.request.Request(self.url, method="POST")
        request.add_header("Accept", "*/*")
        if credentials.kind == "session":
            request.add_header("Cookie", f"{SESSION_COOKIE}={credentials.secret}")
            request.data = b""
        else:
            form = {"user_id": credentials.user, "password": credentials.secret}
            request.data = urllib.parse.urlencode(form).encode()
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                return int(response.status) == 200
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's connection; an error kept (remembered, chained) must not
            if exc.code in (401, 403):
                return False
            raise DependencyError(DEPENDENCY, f"auth.pl answered {exc.code}") from exc
        except (OSError, ValueError) as exc:  # refused, timed out, bad URL
            raise DependencyError(DEPENDENCY, f"auth.pl unreachable: {type(exc).__name__}") from exc
