"""``GET /api/v1/ann/search/{logo_id}`` in its plain form, answered below Flask.

The plain form (a numeric id, no query parameter but ``count``) is what Robotoff's clients send,
one request per logo. Flask's request machinery (request and app contexts, matching the URL
among every rule, the hooks, a ``Response`` object) costs 0.1-0.2 ms a request on the
development machine, as much as everything else the server adds to the index query
(``bench/api.py``). This WSGI middleware answers that form itself, with the answer the Flask
route gives, content for content:

- the body is ``results_body`` of ``SearchService.by_logo``, the same keys in the same order
  (encoded with orjson: the same values as ``jsonify``, a newline after it too);
- the headers are those of ``common.api.hooks`` and ``common.api.cors`` (``Server-Timing`` with
  the ``vector``, ``knn`` and ``app`` stages, ``Vary: Origin``, ``Timing-Allow-Origin``, and the
  echoed origin with credentials when ``LOGO_ANN_CORS_ORIGINS`` allows it), built by the same
  functions. A hook added there must be added here too; ``tests/unit/test_fast_ann.py`` compares
  both paths' answers.

Every other request goes to Flask, and so does every plain one whose answer is not a 200 (a bad
id or count, an unknown logo, a store that is down): Flask runs the search again and answers the
error as it does for every route. Errors are not the hot path; the answers stay one code's.
In debug mode everything goes to Flask (its JSON is pretty-printed there).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from flask import Flask

from common.api.bodies import results_body
from common.api.cors import answer_headers
from common.api.hooks import timing_header
from common.api.params import DEFAULT_COUNT, MAX_COUNT
from common.bootstrap import Container

logger = logging.getLogger(__name__)

PATH = re.compile(r"/api/v1/ann/search/([0-9]{1,19})")
QUERY = re.compile(r"(?:count=([0-9]{1,6}))?")
MAX_ID = 2**63 - 1

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class FastAnnSearch:
    """WSGI middleware over ``app.wsgi_app``: the plain ANN search answered without Flask."""

    def __init__(self, app: Flask, container: Container, inner: WsgiApp) -> None:
        self.app, self.container, self.inner = app, container, inner

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        answer = self.answer(environ)
        if answer is None:
            return self.inner(environ, start_response)
        headers, body = answer
        start_response("200 OK", headers)
        return [body]

    def answer(self, environ: dict[str, Any]) -> tuple[list[tuple[str, str]], bytes] | None:
        """The headers and body of a plain search's 200, or None when Flask should answer."""
        started = time.perf_counter()
        if environ.get("REQUEST_METHOD") != "GET" or self.app.debug:
            return None
        path = PATH.fullmatch(environ.get("PATH_INFO", ""))
        query = QUERY.fullmatch(environ.get("QUERY_STRING", ""))
        if path is None or query is None:
            return None
        logo_id = int(path[1])
        count = int(query[1]) if query[1] is not None else DEFAULT_COUNT
        if not (1 <= logo_id <= MAX_ID and 1 <= count <= MAX_COUNT):
            return None  # Flask's 400 says which parameter is wrong
        service = self.container.search_service()
        try:
            neighbours = service.by_logo(logo_id, count)
        except Exception as exc:  # noqa: BLE001 - Flask runs it again and answers the error
            logger.debug("plain search of logo %d left to Flask: %r", logo_id, exc)
            return None
        body = orjson.dumps(results_body(neighbours, logo_id)) + b"\n"
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Server-Timing", timing_header(service.timings, started)),
            ("Vary", "Origin"),
            *answer_headers(environ.get("HTTP_ORIGIN"), self.container.settings.cors_origins),
        ]
        return headers, body
