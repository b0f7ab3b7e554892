"""CORS as Robotoff answers it: the request's ``Origin`` echoed, with credentials.

Open Food Facts' annotation game calls the API with ``fetch(..., {credentials: "include"})``;
browsers drop every credentialed answer whose ``Access-Control-Allow-Origin`` is ``*``. So:

- an allowed ``Origin`` (``LOGO_ANN_CORS_ORIGINS``: ``*``, the default, allows any; otherwise a
  comma-separated list of exact origins) is echoed, with ``Access-Control-Allow-Credentials:
  true``; every answer carries ``Vary: Origin`` so caches keep one copy per origin;
- a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) on any route is answered 204
  before the view and its auth check run: every method the API has (``API_METHODS``, as Robotoff
  allows all), the headers the browser asked for, ``Access-Control-Max-Age``; its ``Allow``
  header names the methods of that route;
- ``Server-Timing``, ``ETag`` and ``Operation-Id`` (an annotation write's id) are exposed to pages
  (``Timing-Allow-Origin: *``).

A request without ``Origin`` (not from a browser page) gets no CORS headers; a disallowed origin
gets none either, so the browser refuses the answer to that page.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from common.api.context import container

MAX_AGE_S = 86400
API_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
EXPOSED = "Server-Timing, ETag, Operation-Id"


def register_cors(app: Flask) -> None:
    app.before_request(preflight)
    app.after_request(cors)


def allowed_origin(origin: str | None) -> str | None:
    """The origin to echo, or None when this origin may not read the answer."""
    return origin_allowed(origin, container().settings.cors_origins)


def origin_allowed(origin: str | None, setting: str) -> str | None:
    """``allowed_origin`` under the ``LOGO_ANN_CORS_ORIGINS`` value ``setting``."""
    if not origin:
        return None
    setting = setting.strip()
    if setting == "*":
        return origin
    allowed = {o.strip().rstrip("/") for o in setting.split(",") if o.strip()}
    return origin if origin.rstrip("/") in allowed else None


def answer_headers(origin: str | None, setting: str) -> list[tuple[str, str]]:
    """The CORS headers of an answer (besides ``Vary: Origin``) to a request from ``origin``."""
    headers = [("Timing-Allow-Origin", "*")]  # lets any page read Server-Timing (no credentials rule)
    echoed = origin_allowed(origin, setting)
    if echoed is not None:
        headers += [
            ("Access-Control-Allow-Origin", echoed),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", EXPOSED),
        ]
    return headers


def route_methods() -> list[str]:
    """Every method some route answers at this path (routes of several blueprints may share it)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        methods = set(adapter.allowed_methods())
    except HTTPException:
        methods = set()
    return sorted(methods | {"OPTIONS"})


def preflight() -> Response | None:
    """Answer an ``OPTIONS`` on a known route before its view (and auth) runs."""
    if request.method != "OPTIONS" or request.url_rule is None:
        return None
    response = Response(status=204)
    response.headers["Allow"] = ", ".join(route_methods())
    if request.headers.get("Access-Control-Request-Method") and allowed_origin(request.headers.get("Origin")):
        response.headers["Access-Control-Allow-Methods"] = API_METHODS
        asked = request.headers.get("Access-Control-Request-Headers", "").strip()
        if asked:
            response.headers["Access-Control-Allow-Headers"] = asked
        response.headers["Access-Control-Max-Age"] = str(MAX_AGE_S)
        response.vary.update(("Access-Control-Request-Method", "Access-Control-Request-Headers"))
    return response


def cors(response: Response) -> Response:
    response.vary.add("Origin")
    setting = container().settings.cors_origins
    for name, value in answer_headers(request.headers.get("Origin"), setting):
        response.headers[name] = value
    return response
