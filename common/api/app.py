"""App factory, error handling, CORS and the token check shared by every route."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from common.errors import LogoAnnError, NotFoundError, PermanentError, TransientError
from common.pipeline.search import BadQuery

logger = logging.getLogger(__name__)


def create_app(container: Any) -> Flask:
    """The search API over a ``Container`` (see ``common.bootstrap``)."""
    from common.api import routes_ann, routes_logos

    app = Flask("logo_ann", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = container.settings.max_body_bytes
    app.extensions["logo_ann"] = container
    app.json.sort_keys = False  # type: ignore[attr-defined]
    routes_ann.register(app)
    routes_logos.register(app)
    _register_errors(app)
    app.after_request(_cors)
    return app


def container() -> Any:
    from flask import current_app

    return current_app.extensions["logo_ann"]


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status}), status


def require_token(view: Callable[..., Any]) -> Callable[..., Any]:
    """State-changing routes need ``Authorization: Bearer <LOGO_ANN_API_TOKEN>`` when a token is set."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = container().settings.api_token
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "this route needs a valid API token (Authorization: Bearer ...)")
        return view(*args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
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
