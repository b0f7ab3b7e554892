"""Identity on state-changing routes: ``@require_user`` and ``current_user()``.

Usage, for every route that records who changed something::

    from common.api.auth import current_user, require_user

    @bp.post("/api/v1/images/logos/annotate")
    @require_user
    def annotate() -> Any:
        username = current_user()  # verified: store it with the change
        ...

``require_user`` lets the view run only for a verified caller, in this order:

1. ``Authorization: Bearer <token>``: a service; the token must equal ``LOGO_ANN_API_TOKEN``
   (compared in constant time); the recorded name is ``LOGO_ANN_TOKEN_USER``. A Bearer header
   is never passed on to the next rules.
2. ``Authorization: Basic ...``: an Open Food Facts user name and password, checked by
   Product Opener's ``/cgi/auth.pl``.
3. the ``session`` cookie of openfoodfacts.org, checked by ``/cgi/auth.pl`` likewise;
4. no credentials at all, from the machine itself, when ``logo-ann serve`` listens on loopback
   only with no token (``common.api.local_identity``): recorded as ``local:<OS user>``.

Otherwise the view does not run and the answer is JSON ``{"error": reason, "status": n}``:
401 when no credentials came (or a wrong token), 403 when Product Opener refused them, 503
when ``auth.pl`` cannot be reached (with ``Retry-After`` when the check was not even tried: too
many in flight, or it failed moments ago for the same credentials). See ``common.auth`` for the
verification and its cache.
``current_user()`` (the name) and ``current_identity()`` (name and kind) read what the guard
verified for this request; called outside a guarded view they raise ``RuntimeError``.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, jsonify, request

from common.api.local_identity import local_identity
from common.auth import DEPENDENCY, Identity, ProductOpenerAuth, basic_credentials, session_credentials
from common.errors import RetryLaterError, TransientError
from common.outbound import Outbound

logger = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])
CHALLENGE = 'Bearer realm="logo-ann"'  # not Basic: a browser would pop up a password dialog


class AuthRefused(Exception):
    """A request without a verified identity; carries the HTTP status and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _settings() -> Any:
    return current_app.extensions["logo_ann"].settings


def product_opener() -> ProductOpenerAuth:
    """One verifier (and verdict cache) per app, built from the settings on first use."""
    verifier = current_app.extensions.get("logo_ann_auth")
    if verifier is None:
        s = _settings()
        verifier = ProductOpenerAuth(
            s.off_auth_url,
            ttl_s=s.auth_cache_ttl_s,
            negative_ttl_s=s.auth_negative_ttl_s,
            timeout_s=s.auth_timeout_s,
            outbound=Outbound(DEPENDENCY, s.auth_concurrency, failure_ttl_s=s.auth_failure_ttl_s),
        )
        current_app.extensions["logo_ann_auth"] = verifier
    return verifier


def identify() -> Identity:
    """The verified identity of this request, or ``AuthRefused``."""
    header = request.headers.get("Authorization", "").strip()
    if header[:7].lower() == "bearer ":
        return _service(header[7:].strip())
    credentials = basic_credentials(header) if header else None
    if header and credentials is None:
        raise AuthRefused(401, "the Authorization header must be 'Bearer <token>' or 'Basic <user:password>'")
    if credentials is None:
        credentials = session_credentials(request.cookies.get("session"))
    if credentials is None:
        local = local_identity(current_app.extensions, _settings(), request.environ, request.headers)
        if local is not None:  # the person at the machine (common.api.local_identity)
            return local
        raise AuthRefused(
            401, "sign in to Open Food Facts (session cookie) or send Basic credentials or a service token"
        )
    identity = product_opener().verify(credentials)
    if identity is None:
        what = "session" if credentials.kind == "session" else "user name and password"
        raise AuthRefused(403, f"Open Food Facts did not recognise this {what}")
    return identity


def _service(token: str) -> Identity:
    s = _settings()
    if not s.api_token or not hmac.compare_digest(token.encode(), s.api_token.encode()):
        raise AuthRefused(401, "unknown service token")
    return Identity(s.token_user, "token")


def refusal(exc: AuthRefused) -> tuple[Response, int]:
    response = jsonify({"error": exc.reason, "status": exc.status})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response, exc.status


def require_user(view: View) -> View:
    """Run ``view`` only for a verified caller (see the module docstring)."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            g.logo_ann_identity = identify()
        except AuthRefused as exc:
            return refusal(exc)
        except TransientError as exc:
            logger.warning("cannot verify the caller: %s", exc)
            body, status = refusal(AuthRefused(503, "Open Food Facts' sign-in check is unavailable; retry later"))
            if isinstance(exc, RetryLaterError):  # busy, or failed moments ago for these credentials
                body.headers["Retry-After"] = str(exc.retry_after_s)
            return body, status
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def current_identity() -> Identity:
    identity: Identity | None = g.get("logo_ann_identity")
    if identity is None:
        raise RuntimeError("current_identity() called outside a route guarded by @require_user")
    return identity


def current_user() -> str:
    """The verified user name of this request (inside a ``@require_user`` view)."""
    return current_identity().name
