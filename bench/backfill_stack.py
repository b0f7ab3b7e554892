"""Backfill through the local stack: the Pub/Sub emulator pushing to the real ``detect`` function.

The photos (1 MP JPEG, ``bench.crop.photo``) sit in the embedded home's bucket; ``detect`` runs
under functions-framework over that home with the full-size ONNX stand-ins (``bench.models``),
and embeds in-process. The figure is objects per second from the first publish to the last
image recorded as indexed or failed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.crop import photo
from bench.models import ensure
from common.adapters.local_image_store import LocalImageStore
from tests import services

PROJECT = "logo-ann-bench"
BUCKET = "existing"
REPO = Path(__file__).resolve().parents[1]


def seeded_home(home: Path, images: int) -> tuple[Path, dict[str, str]]:
    models = ensure()
    store = LocalImageStore(home / "buckets")
    for i in range(images):
        store.put(BUCKET, f"{100 + i:05d}/1.jpg", photo(i), "image/jpeg")
    env = dict(
        os.environ,
        LOGO_ANN_HOME=str(home),
        LOGO_ANN_DETECTOR_MODEL=str(models["detector"]),
        LOGO_ANN_EMBEDDER_MODEL=str(models["embedder"]),
    )
    return home, env


def _put(url: str, body: dict[str, Any] | None = None) -> None:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def _final(db: Path, images: int) -> bool:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            done = conn.execute("SELECT count(*) FROM image WHERE status IN ('indexed', 'failed')").fetchone()[0]
    except sqlite3.Error:
        return False
    return int(done) >= images


def pubsub_backfill(root: Path, images: int) -> dict[str, Any]:
    home, env = seeded_home(root, images)
    emulator, host = services.start_pubsub_emulator(root)
    port = services.free_port()
    env.update(PUBSUB_EMULATOR_HOST=host, LOGO_ANN_PUBSUB_PROJECT=PROJECT, LOGO_ANN_BACKFILL_TOPIC="backfill")
    framework = str(Path(sys.executable).parent / "functions-framework")
    command = [
        framework,
        "--target",
        "detect",
        "--signature-type",
        "cloudevent",
        "--source",
        str(REPO / "functions" / "detect" / "main.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = root / "detect.log"
    with log.open("wb") as out:
        detect = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        services.wait_until(lambda: services.http_status(url) is not None, detect, log, 60)
        base = f"http://{host}/v1/projects/{PROJECT}"
        _put(f"{base}/topics/backfill")
        _put(
            f"{base}/subscriptions/backfill-detect",
            {
                "topic": f"projects/{PROJECT}/topics/backfill",
                "pushConfig": {"pushEndpoint": url},
                "ackDeadlineSeconds": 600,
            },
        )
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "common.cli", "backfill", "--bucket", BUCKET, "--mode", "pubsub"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        published = time.perf_counter() - started
        deadline = time.monotonic() + 1800
        while not _final(home / "logo-ann.sqlite3", images) and time.monotonic() < deadline:
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    finally:
        services.stop(detect)
        services.stop(emulator)
    return {
        "benchmark": "adopt",
        "stage": "backfill",
        "path": "pubsub-emulator -> detect (functions-framework)",
        "objects": images,
        "publish_s": round(published, 2),
        "seconds": round(seconds, 2),
        "objects_per_s": round(images / seconds, 2),
    }
