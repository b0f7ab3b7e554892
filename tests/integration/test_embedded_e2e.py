"""End to end on one machine: the CLI ingests generated photos, the server answers over HTTP.

Runs the real processes (``logo-ann ingest``, ``logo-ann serve``) on stand-in models that the
project builds (production tensor names; results not semantically meaningful), the real
SQLite store and the real embedded index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from common.adapters.sqlite_store import SqliteStore
from stack.waiting import WaitTimeout, wait_until
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "common.cli"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("e2e")
    environ = dict(
        os.environ,
        LOGO_ANN_HOME=str(root / "home"),
        LOGO_ANN_DETECTOR_MODEL=str(root / "models" / "detector.onnx"),
        LOGO_ANN_EMBEDDER_MODEL=str(root / "models" / "embedder.onnx"),
    )
    subprocess.run(
        [*CLI, "models", "prepare", "--dest", str(root / "models")], env=environ, check=True, capture_output=True
    )
    for batch, seed in (("first", 1), ("second", 2)):
        subprocess.run(
            [*CLI, "samples", "--out", str(root / batch), "--count", "10", "--seed", str(seed)],
            env=environ,
            check=True,
            capture_output=True,
        )
    environ["E2E_ROOT"] = str(root)
    return environ


def ingest(env: dict[str, str], folder: str) -> list[dict]:
    done = subprocess.run(
        [*CLI, "ingest", "--json", str(Path(env["E2E_ROOT"]) / folder)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[str]:
    ingest(env, "first")
    port = free_port()
    log = Path(env["E2E_ROOT"]) / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(healthy, 60, interval=0.2, message=lambda: f"server did not start: {log.read_text()}")
    except WaitTimeout:
        proc.kill()
        raise
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def stored_vectors(env: dict[str, str]) -> dict[int, np.ndarray]:
    """Every vector the store holds, read through a store of its own (the rows and the slot file)."""
    store = SqliteStore(Path(env["LOGO_ANN_HOME"]) / "logo-ann.sqlite3")
    try:
        return {i: vector for ids, matrix in store.iter_embeddings() for i, vector in zip(ids, matrix, strict=True)}
    finally:
        store.close()


def brute_force(vectors: dict[int, np.ndarray], query: int, k: int) -> list[tuple[int, float]]:
    scored = sorted(((1 - float(np.dot(vectors[query], v))) / 2, i) for i, v in vectors.items() if i != query)
    return [(i, d) for d, i in scored[:k]]


def test_ingest_reports_every_image_with_its_logos(env: dict[str, str], server: str) -> None:
    again = ingest(env, "first")  # idempotent: same images, same ids, nothing new
    assert len(again) == 10 and all(r["status"] == "indexed" for r in again)
    assert sum(len(r["logos"]) for r in again) > 0
    logo = next(r["logos"][0] for r in again if r["logos"])
    assert set(logo) == {"logo_id", "bounding_box", "score", "label"}
    assert len(stored_vectors(env)) == sum(len(r["logos"]) for r in again)


def test_neighbours_over_http_equal_exact_search(env: dict[str, str], server: str) -> None:
    vectors = stored_vectors(env)
    assert len(vectors) >= 6
    for query in sorted(vectors)[:5]:
        body = requests.get(f"{server}/api/v1/ann/search/{query}?count=5", timeout=10).json()
        expected = brute_force(vectors, query, 5)
        assert [r["logo_id"] for r in body["results"]] == [i for i, _ in expected]
        assert [r["distance"] for r in body["results"]] == pytest.approx([d for _, d in expected], abs=2e-3)


def test_ingest_while_serving_is_seen_by_the_server(env: dict[str, str], server: str) -> None:
    before = set(stored_vectors(env))
    records = ingest(env, "second")
    assert all(r["status"] in ("indexed", "failed") for r in records)
    new_ids = set(stored_vectors(env)) - before
    assert new_ids, "the second batch added logos"
    query = min(new_ids)
    body = requests.get(f"{server}/api/v1/ann/search/{query}?count=500", timeout=10).json()
    returned = {r["logo_id"] for r in body["results"]}
    assert returned == (before | new_ids) - {query}  # every logo of both batches is searchable
    details = requests.get(f"{server}/api/v1/logos/{query}", timeout=10).json()
    assert details["nearest_neighbors"]["logo_ids"], "stored neighbours were computed"
    crop = requests.get(f"{server}/api/v1/logos/{query}/crop", timeout=10)
    assert crop.headers["Content-Type"] == "image/jpeg" and crop.content[:2] == b"\xff\xd8"
