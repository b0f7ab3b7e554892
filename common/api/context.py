"""What every route module shares: the app and its container, the timed search use case, errors,
the token check.

``ApiApp`` is the Flask app ``create_app`` makes: the container and the per-app state the routes
need are its typed attributes (``this_app()``), never string keys in ``app.extensions``.

This module imports no route module; route modules import it (the package is a tree:
``app`` → ``routes_*`` blueprints → ``context``, ``bodies``, ``params``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request

from common.auth import Identity
from common.bootstrap import Container
from common.observability import Timings
from common.pipeline.search import RankedCache, SearchService
from common.pipeline.value_cluster import NeighbourCache

LOOPBACK = ("127.0.0.1", "::1")


class ApiApp(Flask):
    """The search API's Flask app over one ``Container``, with what its routes keep per app."""

    def __init__(self, import_name: str, container: Container, **kwargs: Any) -> None:
        super().__init__(import_name, **kwargs)
        self.container = container
        # the person at the machine (``common.api.local_identity``): set by ``logo-ann serve`` alone
        self.local_user: Identity | None = None
        self.ranked = RankedCache()  # the ANN routes' ranked lists (``common.api.paging``)
        self.neighbours = NeighbourCache()  # the value-cluster route's references' neighbours
        self.openapi_document: dict[str, Any] | None = None  # built on first request


def this_app() -> ApiApp:
    """The app of the request being served (made by ``create_app``)."""
    app: Flask = current_app
    if not isinstance(app, ApiApp):
        raise RuntimeError(f"{app.name!r} is not an ApiApp: make it with common.api.create_app or ApiApp")
    return app


def container() -> Container:
    """The container the app was created over (``create_app(container)``)."""
    return this_app().container


def timings() -> Timings:
    """This request's stage timings (reported in ``Server-Timing``)."""
    found: Timings = g.logo_ann_timings
    return found


def search_service() -> SearchService:
    """The container's search use case, timing its stages into this request's timings."""
    service = container().search_service()
    service.timings = timings()
    return service


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status}), status


def token_error() -> tuple[Response, int] | None:
    """Why a state-changing request is refused, or None when it may go on.

    With ``LOGO_ANN_API_TOKEN`` set, the request must carry ``Authorization: Bearer <token>``
    (401 otherwise). With no token set, only requests from this machine (the embedded server on
    127.0.0.1) may change state; any other gets 403 saying how to configure a token.
    """
    token = container().settings.api_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error(401, "this route needs a valid API token (Authorization: Bearer ...)")
        return None
    if request.remote_addr in LOOPBACK:
        return None
    return error(
        403,
        "this route changes state and this server has no API token: set LOGO_ANN_API_TOKEN "
        "and send 'Authorization: Bearer <token>' (without one, only local requests may change state)",
    )


def require_token(view: Callable[..., Any]) -> Callable[..., Any]:
    """Guard a state-changing route with ``token_error``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return token_error() or view(*args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper
