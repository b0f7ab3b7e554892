"""Request hooks of the search API: stage timing (``Server-Timing``), CORS and preflight."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from common.observability import Timings


def register_hooks(app: Flask) -> None:
    app.before_request(start_timing)
    app.before_request(preflight)
    app.after_request(cors)
    app.after_request(server_timing)


def start_timing() -> None:
    g.logo_ann_timings = Timings()
    g.logo_ann_started = time.perf_counter()


def server_timing(response: Response) -> Response:
    """``Server-Timing`` (W3C): the search stages (``vector`` lookup, ``knn`` index query, ...)
    and ``app``, the whole request inside the server, in milliseconds."""
    timings: Timings | None = g.get("logo_ann_timings")
    started: float | None = g.get("logo_ann_started")
    if timings is not None and started is not None:
        stages = [f"{name};dur={ms:.3f}" for name, ms in timings.ms.items()]
        stages.append(f"app;dur={(time.perf_counter() - started) * 1000:.3f}")
        response.headers["Server-Timing"] = ", ".join(stages)
    return response


def preflight() -> Response | None:
    """Answer a CORS preflight for any known route before its view (and token check) runs."""
    if request.method == "OPTIONS" and request.url_rule is not None:
        return Response(status=204)
    return None


def cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Timing-Allow-Origin"] = "*"  # lets pages read Server-Timing
    return response
