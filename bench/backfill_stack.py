"""Backfill through Pub/Sub: the emulator pushing to the real ``detect`` function, then the whole stack.

``pubsub_backfill``: the photos (1 MP JPEG, ``bench.crop.photo``) sit in the embedded home's
bucket; ``detect`` runs under functions-framework over that home with the full-size ONNX
stand-ins (``bench.models``), and embeds in-process.

``stack_backfill``: the local stack (``stack/core.py``) with the same models on its Triton; the
photos are put in a second bucket of its SeaweedFS, which neither the filer webhook nor the
storage bridge (and its sweep) covers, as objects stored before the service existed
(``stack/backfill.py``). ``logo-ann backfill --mode pubsub`` publishes them to the backfill
topic, pushed to the stack's ``detect``; each goes detect → crops topic → ``embed_index`` →
Triton → Elasticsearch node and PostgreSQL. Then the backfill runs again from the start
(``--restart``): every object is skipped as done.

Each figure is objects per second from the launch of ``logo-ann backfill`` (its first publish
follows its start-up) to the last image recorded as indexed or failed.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from bench.crop import photo
from bench.models import ensure
from common.adapters.local_image_store import LocalImageStore
from offline.samples import draw_product
from stack import services

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
        services.wait_ready(lambda: services.http_status(url) is not None, detect, log, 60)
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
        "benchmark": "import",
        "stage": "backfill",
        "path": "pubsub-emulator -> detect (functions-framework)",
        "objects": images,
        "publish_s": round(published, 2),
        "seconds": round(seconds, 2),
        "objects_per_s": round(images / seconds, 2),
    }


STACK_PATH = "local stack: SeaweedFS -> Pub/Sub -> detect -> embed_index -> Triton -> Elasticsearch node + PostgreSQL"


def _bench_models(folder: Path) -> Path:
    """The full-size stand-ins of the other backfill records, under the file names the stack serves."""
    models = ensure()
    folder.mkdir(parents=True, exist_ok=True)
    for role, source in models.items():
        target = folder / f"{role}.onnx"
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
    return folder


def _deliveries(log: Path) -> int:
    """Pub/Sub messages a function of the stack handled (one JSON log line per delivery)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(
        1 for line in text.splitlines() if '"event_type": "google.cloud.pubsub.topic.v1.messagePublished"' in line
    )


def product_photo(seed: int) -> bytes:
    """A 1 MP product photo (``offline.samples.draw_product`` at 640x800 scaled to 896x1120, JPEG q 90)
    in which the calibrated stand-in detector finds logos (5 on average), where it finds none in ``photo``."""
    image, _ = draw_product(random.Random(seed), 640, 800)
    out = io.BytesIO()
    image.resize((896, 1120), Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
    return out.getvalue()


PHOTOS: dict[str, Callable[[int], bytes]] = {"bench.crop.photo": photo, "product_photo": product_photo}


def stack_backfill(root: Path, images: int, rate: float = 0.0, photos: str = "bench.crop.photo") -> dict[str, Any]:
    """``images`` photos already in a bucket of the stack's SeaweedFS, backfilled through the backfill
    topic pushed to the stack's ``detect`` (``rate`` objects/s at most; 0: no limit), then again."""
    from stack import backfill as sb
    from stack.core import start_stack

    stack = start_stack(root / "stack", models_dir=_bench_models(root / "models"))
    try:
        put = sb.put_existing(stack, BUCKET, ((f"{100 + i:05d}/1.jpg", PHOTOS[photos](i)) for i in range(images)))
        env = sb.backfill_env(stack)
        options = ["--rate", str(rate)] if rate > 0 else []
        started = time.perf_counter()
        report = sb.backfill(env, BUCKET, *options)
        published = time.perf_counter() - started
        rows = sb.wait_final(stack, BUCKET, put, deadline_s=1800)
        seconds = time.perf_counter() - started
        logos, embedded = sb.logo_counts(stack, BUCKET)
        documents = sb.index_documents(stack)
        deliveries = {name: _deliveries(stack.root / "logs" / f"{name}.log") for name in ("detect", "embed_index")}
        again = sb.backfill(env, BUCKET, "--restart")
        after = sb.images(stack, BUCKET)
    finally:
        stack.stop()
    statuses = [status for _, _, status in rows]
    return {
        "benchmark": "import",
        "stage": "backfill",
        "path": STACK_PATH,
        "objects": put,
        "photos": photos,
        "rate_limit": rate or None,
        "processed": report["processed"],
        "skipped_as_done": report["skipped_as_done"],
        "failed": report["failed"],
        "publish_s": round(published, 2),
        "seconds": round(seconds, 2),
        "objects_per_s": round(put / seconds, 2),
        "indexed": statuses.count("indexed"),
        "images_failed": statuses.count("failed"),
        "image_rows": len(rows),
        "deliveries_to_detect": deliveries["detect"],
        "deliveries_to_embed_index": deliveries["embed_index"],  # images with logos: one crops message each
        "logos": logos,
        "embeddings": embedded,
        "es_documents": documents,
        "second_run": {key: again["this_run"][key] for key in ("listed", "processed", "skipped_as_done", "failed")},
        "image_rows_after_second_run": len(after),
        "measured": "from the launch of `logo-ann backfill` to the last image indexed or failed in PostgreSQL",
    }
