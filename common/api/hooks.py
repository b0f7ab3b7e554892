"""Request hooks of the search API: stage timing (``Server-Timing``); CORS is ``common.api.cors``."""

from __future__ import annotations

import time

from flask import Flask, Response, g

from common.api.cors import register_cors
from common.observability import Timings


def register_hooks(app: Flask) -> None:
    app.before_request(start_timing)
    register_cors(app)
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
        response.headers["Server-Timing"] = timing_header(timings, started)
    return response


def timing_header(timings: Timings, started: float) -> str:
    """The ``Server-Timing`` value: each stage of ``timings``, then ``app`` since ``started``."""
    stages = [f"{name};dur={ms:.3f}" for name, ms in timings.ms.items()]
    stages.append(f"app;dur={(time.perf_counter() - started) * 1000:.3f}")
    return ", ".join(stages)
