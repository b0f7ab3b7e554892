"""How each outcome of the exception tree (``common.errors``) becomes an HTTP answer:
``BadQuery`` 400, ``NotFoundError`` 404, other ``PermanentError`` 422, ``TransientError`` 503
(retry later; ``RetryLaterError`` with its ``Retry-After``), ``FaultError`` (``ConfigError``,
``InternalError``) 500, logged with its trace.

Every error body is JSON: ``{"error": message, "status": code}``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from common.api.context import error
from common.errors import FaultError, LogoAnnError, NotFoundError, PermanentError, RetryLaterError, TransientError
from common.pipeline.search import BadQuery

logger = logging.getLogger(__name__)


def register_errors(app: Flask) -> None:
    @app.errorhandler(BadQuery)
    def bad_query(exc: BadQuery) -> Any:
        return error(400, str(exc))

    @app.errorhandler(NotFoundError)
    def not_found(exc: NotFoundError) -> Any:
        return error(404, str(exc))

    @app.errorhandler(PermanentError)
    def permanent(exc: PermanentError) -> Any:
        return error(422, str(exc))

    @app.errorhandler(RetryLaterError)
    def retry_later(exc: RetryLaterError) -> Any:
        # debug: under a flood every refused request would log a line (the failure itself was logged once)
        logger.debug("dependency call refused at once: %s", exc)
        body, status = error(503, f"{exc.dependency} is busy or failed moments ago; retry later")
        body.headers["Retry-After"] = str(exc.retry_after_s)
        return body, status

    @app.errorhandler(TransientError)
    def transient(exc: TransientError) -> Any:
        logger.warning("dependency unavailable: %s", exc)
        return error(503, "a dependency is temporarily unavailable; retry later")

    @app.errorhandler(FaultError)
    def fault(exc: FaultError) -> Any:
        logger.exception("request failed: %s", type(exc).__name__)
        return error(500, "internal error")

    @app.errorhandler(LogoAnnError)
    def other(exc: LogoAnnError) -> Any:  # a raise of the abstract base: treated as a fault
        logger.exception("request failed")
        return error(500, "internal error")

    @app.errorhandler(HTTPException)
    def http(exc: HTTPException) -> Any:
        body, status = error(exc.code or 500, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            body.headers["Allow"] = ", ".join(sorted(set(exc.valid_methods) | {"OPTIONS"}))
        return body, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        logger.exception("unexpected error")
        return error(500, "internal error")
