"""A flooded crop route does not starve the ANN search.

A real ``logo-ann serve`` runs over an embedded home (SQLite, the embedded index, stand-in
models) that allows one image host: a TCP listener on 127.0.0.1 that accepts and never answers
(``SilentHost``, allowed by ``LOGO_ANN_CROP_HOSTS``, ``_PORTS`` and ``_NETWORKS`` as a deployment
allows a mirror). ANN searches from one keep-alive connection are timed alone, then while another
process floods the crop route from 32 connections with URLs on that host (each URL new, so only
the concurrency bound can protect the server). Every search must succeed and their p99 stay within
max(3 x the unloaded p99, ``FLOOR_S``); the dead host must see no more connections than the bound
lets through.

Without the bound (``LOGO_ANN_CROP_FETCH_CONCURRENCY`` as large as the flood) every server thread
waits on the dead host, searches queue behind the fetches' 5 s timeout, and the test fails.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stack.waiting import wait_until
from tests.conftest import free_port
from tests.doubles.silent_host import SilentHost
from tests.reliability.conftest import Record
from tests.reliability.embedded import embedded_container
from tests.reliability.test_reconcile import ingest

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "common.cli"]
LOGOS = 16
SAMPLES = 1500  # per phase: the p99 is the 15th slowest, so a few stray pauses do not decide it
FLOOD_CONNECTIONS = 32
# Each flood connection sends up to 20 requests/s: 640 requests/s in all, 38 times what the crop
# route managed when flooded before it was bounded (17/s). Unpaced, the flood becomes a CPU flood
# (2,400 refusals/s here, the flooder and the server each taking a core of the two), which costs
# searches CPU time that no concurrency bound can give back; a rate limit in front of the server
# is the answer to that (docs/security.md).
FLOOD_RATE = 20.0
BOUND = 4  # LOGO_ANN_CROP_FETCH_CONCURRENCY's default
FETCH_TIMEOUT_S = 5.0
CLIENT_TIMEOUT_S = 3.0  # a search slower than this has failed
# The absolute floor of the loaded p99. An unloaded search takes 1-5 ms at p99 on a shared 2-core
# machine, so 3x would be 3-15 ms, while the flood (two more processes busy) costs the searches a
# share of the CPU: flooded p99s of 13-38 ms were measured here at load averages of 6.5-7. What the
# test guards against is starvation, where a search waits behind the fetches' 5 s timeout: without
# the bound searches time out (p99 3,006 ms). 100 ms is fifty times below that and about three
# times above what CPU sharing alone has cost.
FLOOR_S = 0.100


@pytest.fixture
def served(tmp_path: Path, silent: SilentHost) -> Iterator[tuple[int, list[int]]]:
    """``logo-ann serve`` on a home of ``LOGOS`` logos; (its port, the logo ids)."""
    home = tmp_path / "home"
    container = embedded_container(home)
    ingest(container, LOGOS)
    container.fresh_index().flush()
    settings = container.settings
    container.store.close()
    with sqlite3.connect(settings.sqlite_path) as db:
        ids = [row[0] for row in db.execute("SELECT logo_id FROM embedding ORDER BY logo_id")]
    env = dict(
        os.environ,
        LOGO_ANN_HOME=str(home),
        LOGO_ANN_DETECTOR_MODEL=settings.detector_model,
        LOGO_ANN_EMBEDDER_MODEL=settings.embedder_model,
        LOGO_ANN_CROP_HOSTS="127.0.0.1",
        LOGO_ANN_CROP_FETCH_PORTS=str(silent.port),
        LOGO_ANN_CROP_FETCH_NETWORKS="127.0.0.1/32",
        LOGO_ANN_CROP_FETCH_TIMEOUT_S=str(FETCH_TIMEOUT_S),
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--no-inbox"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def serving() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            return _answers(port, ids[0])

        wait_until(serving, 60, interval=0.2, message=lambda: (tmp_path / "serve.log").read_text()[-3000:])
        yield port, ids
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _answers(port: int, logo_id: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", f"/api/v1/ann/search/{logo_id}?count=1")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def searches(port: int, ids: list[int], samples: int) -> tuple[np.ndarray, list[str]]:
    """Seconds of ``samples`` ANN searches sent one after another on one keep-alive connection
    (a failed one counts the time it took to fail), and what went wrong with any that did not
    answer 200 with every neighbour within ``CLIENT_TIMEOUT_S``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
    seconds, failures = [], []
    for i in range(samples):
        started = time.perf_counter()
        try:
            conn.request("GET", f"/api/v1/ann/search/{ids[i % len(ids)]}?count=10")
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            seconds.append(time.perf_counter() - started)
            failures.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
            continue
        seconds.append(time.perf_counter() - started)
        if response.status != 200 or len(json.loads(body)["results"]) != min(10, len(ids) - 1):
            failures.append(f"{response.status}: {body[:200]!r}")
    conn.close()
    return np.asarray(seconds), failures


def p99(seconds: np.ndarray) -> float:
    return float(np.percentile(seconds, 99)) if len(seconds) else math.inf


def test_a_crop_flood_on_a_dead_host_leaves_ann_searches_their_latency(
    served: tuple[int, list[int]], silent: SilentHost, record: Record
) -> None:
    port, ids = served
    searches(port, ids, 100)  # warm up
    alone, alone_failures = searches(port, ids, SAMPLES)

    image_base = f"https://127.0.0.1:{silent.port}/images"
    flood_started = time.monotonic()
    flood = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.flood", "--port", str(port), "--image-base", image_base,
         "--connections", str(FLOOD_CONNECTIONS), "--rate", str(FLOOD_RATE), "--seconds", "120", "--timeout", "30"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        flooding = silent.wait_for(BOUND)
        loaded, loaded_failures = searches(port, ids, SAMPLES) if flooding else (np.asarray([]), ["no flood"])
        report = json.loads(flood.communicate(timeout=60)[0])  # closes its stdin: the flood stops
        flood_s = time.monotonic() - flood_started
    finally:
        flood.kill()
        flood.wait(timeout=30)

    bound_s = max(3 * p99(alone), FLOOR_S)
    figures = (
        f"ANN p99 {p99(alone) * 1e3:.1f} ms alone, {p99(loaded) * 1e3:.1f} ms flooded (bound {bound_s * 1e3:.0f} ms); "
        f"flood {report}; dead-host connections {silent.accepted}"
    )
    print(figures)
    record(
        "faults",
        f"crop route flooded from {FLOOD_CONNECTIONS} connections with new URLs of an image host that never answers, "
        "while ANN searches run",
        "every search answered; their p99 within max(3x unloaded, 100 ms); beyond the bound of "
        f"{BOUND} fetches crops answered 503 with Retry-After at once",
    )
    assert alone_failures == [] and loaded_failures == [], figures
    assert p99(loaded) <= bound_s, figures
    refused = report["retry_after_503"]
    assert refused >= 100 and report["errors"] == {}, figures  # the flood ran, and was answered at once
    # each slot lets one connection through per fetch timeout
    assert silent.accepted <= BOUND * (math.ceil(flood_s / FETCH_TIMEOUT_S) + 1), figures
