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
credentials, and the container's ``sign_in`` (``common.ports.sign_in``; Product Opener's
``auth.pl`` in ``common.adapters.product_opener``) for the verification and its cache.
``current_user()`` (the name) and ``current_identity()`` (name and kind) read what the guard
verified for this request; called outside a guarded view they raise ``RuntimeError``.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from common.api.context import container, this_app
from common.api.error_handlers import answer
from common.api.local_identity import local_identity
from common.auth import Identity, basic_credentials, session_credentials
from common.errors import ForbiddenError, TransientError, UnauthorizedError
from common.ports.sign_in import SignIn

logger = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])


def sign_in() -> SignIn:
    """The container's check of Open Food Facts credentials (and its verdict cache)."""
    return container().sign_in


def identify() -> Identity:
    """The verified identity of this request, or ``UnauthorizedError`` / ``ForbiddenError``."""
    header = request.headers.get("Authorization", "").strip()
    if header[:7].lower() == "bearer ":
        return _service(header[7:].strip())
    credentials = basic_credentials(header) if header else None
    if header and credentials is None:
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>' or 'Basic <user:password>'")
    if credentials is None:
        credentials = session_credentials(request.cookies.get("session"))
    if credentials is None:
        local = local_identity(this_app().local_user, container().settings, request.environ, request.headers)
        if local is not None:  # the person at the machine (common.api.local_identity)
            return local
        raise UnauthorizedError(
            "sign in to Open Food Facts (session cookie) or send Basic credentials or a service token"
        )
    identity = sign_in().verify(credentials)
    if identity is None:
        what = "session" if credentials.kind == "session" else "user name and password"
        raise ForbiddenError(f"Open Food Facts did not recognise this {what}")
    return identity


def _service(token: str) -> Identity:
    s = container().settings
    if not s.api_token or not hmac.compare_digest(token.encode(), s.api_token.encode()):
        raise UnauthorizedError("unknown service token")
    return Identity(s.token_user, "token")


def require_user(view: View) -> View:
    """Run ``view`` only for a verified caller (see the module docstring)."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            g.logo_ann_identity = identify()
        except (UnauthorizedError, ForbiddenError) as exc:
            return answer(exc)
        except TransientError as exc:  # with Retry-After when busy, or failed moments ago for these credentials
            return answer(exc, "Open Food Facts' sign-in check is unavailable; retry later")
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
