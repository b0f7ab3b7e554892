"""App factory, error handling, CORS and the token check shared by every route."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from common.errors import LogoAnnError, NotFoundError, PermanentError, TransientError
from common.observability import Timings
from common.pipeline.search import BadQuery, SearchService

logger = logging.getLogger(__name__)


def create_app(container: Any) -> Flask:
    """The search API over a ``Container`` (see ``common.bootstrap``)."""
    from common.api import openapi, routes_admin, routes_ann, routes_batch, routes_logos, routes_search, routes_web

    app = Flask("logo_ann", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = container.settings.max_body_bytes
    app.extensions["logo_ann"] = container
    app.json.sort_keys = False  # type: ignore[attr-defined]
    routes_ann.register(app)
    routes_logos.register(app)
    routes_batch.register(app)
    routes_search.register(app)
    routes_web.register(app)
    routes_admin.register(app)
    openapi.register(app)
    _register_errors(app)
    app.before_request(_start_timing)
    app.before_request(_preflight)
    app.after_request(_cors)
    app.after_request(_server_timing)
    return app


def container() -> Any:
    from flask import current_app

    return current_app.extensions["logo_ann"]


def search_service() -> SearchService:
    """The container's search use case, timing its stages into this request's timings."""
    service: SearchService = container().search_service()
    service.timings = g.logo_ann_timings
    return service


def _start_timing() -> None:
    g.logo_ann_timings = Timings()
    g.logo_ann_started = time.perf_counter()


def _server_timing(response: Response) -> Response:
    """``Server-Timing`` (W3C): the search stages (``vector`` lookup, ``knn`` index query, ...)
    and ``app``, the whole request inside the server, in milliseconds."""
    timings: Timings | None = g.get("logo_ann_timings")
    started: float | None = g.get("logo_ann_started")
    if timings is not None and started is not None:
        stages = [f"{name};dur={ms:.3f}" for name, ms in timings.ms.items()]
        stages.append(f"app;dur={(time.perf_counter() - started) * 1000:.3f}")
        response.headers["Server-Timing"] = ", ".join(stages)
    return response


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status}), status


LOOPBACK = ("127.0.0.1", "::1")


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


def _preflight() -> Response | None:
    """Answer a CORS preflight for any known route before its view (and token check) runs."""
    if request.method == "OPTIONS" and request.url_rule is not None:
        return Response(status=204)
    return None


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Timing-Allow-Origin"] = "*"  # lets pages read Server-Timing
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(BadQuery)
    def bad_query(exc: BadQuery) -> Any:
        return error(400, str(exc))

    @app.errorhandler(NotFoundError)
    def not_found(exc: NotFoundError) -> Any:
        return error(404, str(exc))

    @app.errorhandler(PermanentError)
    def permanent(exc: PermanentError) -> Any:
        return error(422, str(exc))

    @app.errorhandler(TransientError)
    def transient(exc: TransientError) -> Any:
        logger.warning("dependency unavailable: %s", exc)
        return error(503, "a dependency is temporarily unavailable; retry later")

    @app.errorhandler(LogoAnnError)
    def other(exc: LogoAnnError) -> Any:
        logger.exception("request failed")
        return error(500, "internal error")

    @app.errorhandler(HTTPException)
    def http(exc: HTTPException) -> Any:
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        logger.exception("unexpected error")
        return error(500, "internal error")
