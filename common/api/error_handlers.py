"""How each outcome of the exception tree (``common.errors``) becomes an HTTP answer: the status
is ``common.errors.HTTP_STATUS``'s (400 bad input, 401 with a ``WWW-Authenticate`` challenge, 403,
404, 409, 422 other permanent errors, 503 transient, 500 faults). A 4xx says the exception's
message; a 503 says to retry later (``RetryLaterError`` with its ``Retry-After``); a 500 says
"internal error" and is logged with its trace.

Every error body is JSON: ``{"error": message, "status": code}``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from common.api.context import error
from common.errors import LogoAnnError, RetryLaterError, TransientError, UnauthorizedError, http_status

logger = logging.getLogger(__name__)
CHALLENGE = 'Bearer realm="logo-ann"'  # not Basic: a browser would pop up a password dialog


def answer(exc: LogoAnnError, transient_message: str | None = None) -> tuple[Response, int]:
    """The JSON answer to ``exc`` with its status from ``HTTP_STATUS``; ``transient_message``
    replaces the generic one of a 503."""
    status = http_status(exc)
    if isinstance(exc, RetryLaterError):
        # debug: under a flood every refused request would log a line (the failure itself was logged once)
        logger.debug("dependency call refused at once: %s", exc)
        message = transient_message or f"{exc.dependency} is busy or failed moments ago; retry later"
        body, status = error(status, message)
        body.headers["Retry-After"] = str(exc.retry_after_s)
        return body, status
    if isinstance(exc, TransientError):
        logger.warning("dependency unavailable: %s", exc)
        return error(status, transient_message or "a dependency is temporarily unavailable; retry later")
    if status >= 500:
        logger.exception("request failed: %s", type(exc).__name__)
        return error(status, "internal error")
    body, status = error(status, str(exc))
    if isinstance(exc, UnauthorizedError):
        body.headers["WWW-Authenticate"] = CHALLENGE
    return body, status


def register_errors(app: Flask) -> None:
    @app.errorhandler(LogoAnnError)
    def project_error(exc: LogoAnnError) -> Any:
        return answer(exc)

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
