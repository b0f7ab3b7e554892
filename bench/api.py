"""The search API over HTTP (``logo-ann serve``'s code path) on an index of n synthetic logos,
against the raw ``index.search`` of the same queries in the same run.

The embedded home holds the full index (the one ``bench.ann`` built at the configured default
setting, reused; built here if there is none) and a SQLite store with only the query logos (the
route reads the query logo's vector from the store); the index's ``applied_seq`` is set to the
store's last change, so nothing is caught up at start.
The server runs in its own process; this process drives it with one keep-alive connection.

Two raw figures: the index query of each request as the server timed it (its ``Server-Timing``
``knn`` stage: same query, same process, same caches), and ``index.search`` run back to back in
this process (warmer caches, so faster). The API's cost is the request's time minus the first
(``added_ms_p50``) or minus the second (``added_ms_p50_vs_back_to_back``, the stricter figure).
HTTP and raw rounds alternate, and each record carries the 1-minute load average at its start
and end, so a figure measured while the machine's load changed says so.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench.ann import DEFAULT, DEFAULT_EF, Embedded, build, timed_searches
from bench.ann import open_index as ann_open_index
from common.adapters.sqlite_store import SqliteStore
from common.domain import Box, Detection, ObjectRef
from stack.services import free_port

log = logging.getLogger(__name__)


def prepare_home(home: Path, vectors: np.ndarray, queries: int) -> list[int]:
    """Store ``queries`` logos whose vectors are index rows; build and save the index; their ids."""
    home.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(home / "logo-ann.sqlite3")
    image, _ = store.upsert_image(ObjectRef("uploads", "bench.jpg", "1"), 1, "image/jpeg")
    boxes = [Detection(Box(0.0, 0.0, 0.5, 0.5), 0.9, "logo") for _ in range(queries)]
    logos = store.record_detections(image.id, 100, 100, boxes, "bench")
    ids = [logo.id for logo in logos]
    if max(ids) >= len(vectors):
        raise ValueError("more query logos than indexed vectors")
    store.save_embeddings(ids, vectors[ids], "bench", "robotoff-v1")
    seq = store.last_change_seq()
    store.close()
    index = open_index(home / "index", vectors.shape[1])
    if index.count() != len(vectors):
        index.close()
        index, _ = build(DEFAULT, vectors, home / "index", DEFAULT_EF)
    index.set_applied_seq(seq)
    index.flush()
    index.close()
    return ids


def open_index(directory: Path, dim: int) -> Embedded:
    """The index as ``logo-ann serve`` opens it (same settings, so the same files are accepted)."""
    return ann_open_index(DEFAULT, directory, dim, DEFAULT_EF)


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LOGO_ANN_HOME=str(home))
    code = (
        "import logging, sys; logging.basicConfig(level=logging.WARNING);"
        "from common.bootstrap import Container; from common.settings import load_settings;"
        "from common.cli.serve import serve;"
        f"serve(Container(load_settings()), '127.0.0.1', {port}, watch_inbox=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1/ann/search/1?count=1"
    deadline = time.monotonic() + 300
    while not _ok(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the API server did not start (exit code {proc.poll()})")
        time.sleep(0.5)
    return proc


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def stage_ms(header: str | None, name: str) -> float:
    for part in (header or "").split(","):
        key, _, duration = part.strip().partition(";dur=")
        if key == name:
            return float(duration)
    raise RuntimeError(f"no {name!r} in Server-Timing {header!r}")


def load(port: int, ids: list[int], count: int, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequential GETs on one keep-alive connection (stdlib ``http.client``: the lightest client,
    so the figure is the server's cost, not the client library's); seconds per request and the
    server's own seconds for each request's index query."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    seconds, knn = [], []
    for _ in range(rounds):
        for logo_id in ids:
            started = time.perf_counter()
            conn.request("GET", f"/api/v1/ann/search/{logo_id}?count={count}")
            response = conn.getresponse()
            body = response.read()
            seconds.append(time.perf_counter() - started)
            knn.append(stage_ms(response.getheader("Server-Timing"), "knn") / 1e3)
            if response.status != 200 or len(json.loads(body)["results"]) != count:
                raise RuntimeError(f"bad answer {response.status}: {body[:200]!r}")
    conn.close()
    return np.asarray(seconds), np.asarray(knn)


def raw_times(index: Embedded, vectors: np.ndarray, ids: list[int], count: int) -> np.ndarray:
    """One round of the same queries through ``index.search`` in this process, back to back."""
    return timed_searches(index, vectors[ids], count)[1]


def interleaved(
    port: int, index: Embedded, vectors: np.ndarray, ids: list[int], count: int, rounds: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rounds`` times: every query over HTTP, then every query raw; so a change of the machine's
    load during the run weighs on both figures alike. (HTTP seconds, server knn seconds, raw seconds.)"""
    http, knn, raw = [], [], []
    for _ in range(rounds):
        seconds, in_server = load(port, ids, count, 1)
        http.append(seconds)
        knn.append(in_server)
        raw.append(raw_times(index, vectors, ids, count))
    return np.concatenate(http), np.concatenate(knn), np.concatenate(raw)


def ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1e3)


def run(vectors: np.ndarray, workdir: Path, queries: int, rounds: int) -> list[dict[str, Any]]:
    home = workdir / "api-home"
    ids = prepare_home(home, vectors, queries)
    port = free_port()
    proc = start_server(home, port)
    index = open_index(home / "index", vectors.shape[1])
    records = []
    try:
        for count in (10, 100):
            load(port, ids[:20], count, 1)  # warm up
            raw_times(index, vectors, ids[:20], count)
            load_before = os.getloadavg()[0]
            http, in_server, raw = interleaved(port, index, vectors, ids, count, rounds)
            records.append(
                {
                    "benchmark": "api",
                    "n": len(vectors),
                    "count": count,
                    "requests": len(http),
                    "server": "waitress (logo-ann serve)",
                    "client": "http.client, one keep-alive connection",
                    "rounds": rounds,
                    "raw_interleaved": True,
                    "load_average_1m": round(load_before, 2),
                    "load_average_1m_end": round(os.getloadavg()[0], 2),
                    "requests_per_s": len(http) / float(http.sum()),
                    "p50_ms": ms(http, 50),
                    "p99_ms": ms(http, 99),
                    "server_knn_p50_ms": ms(in_server, 50),
                    "server_knn_p99_ms": ms(in_server, 99),
                    "raw_p50_ms": ms(raw, 50),
                    "raw_p99_ms": ms(raw, 99),
                    "added_ms_p50": ms(http, 50) - ms(in_server, 50),
                    "added_ms_p50_vs_back_to_back": ms(http, 50) - ms(raw, 50),
                }
            )
            log.info("api count=%d: %s", count, records[-1])
    finally:
        index.close()
        proc.terminate()
        proc.wait(timeout=30)
    return records
