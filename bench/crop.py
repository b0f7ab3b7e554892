"""Robotoff's crop route (``GET /api/v1/images/crop?image_url=...``) over HTTP, from stored
1-megapixel photos, the way the annotation game asks for them.

The embedded home holds ``photos`` JPEG photos (1152 × 864 pixels, about 1.0 MP, q 90) under
Open Food Facts' layout, so each is found by its ``images.openfoodfacts.org`` URL and read from
the bucket. ``logo-ann serve`` runs in its own process; one keep-alive stdlib connection asks
for ``crops_per_photo`` logo-sized boxes of every photo. Two figures: the first crop of a photo
(read from the bucket and decoded) and the following ones (the decoded photo is kept).
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common.adapters.local_image_store import LocalImageStore
from common.adapters.sqlite_store import SqliteStore
from common.off_images import source_image_of
from stack.services import free_port

log = logging.getLogger(__name__)
WIDTH, HEIGHT = 1152, 864
BUCKET = "uploads"


def photo(seed: int) -> bytes:
    """A product-like photo: smooth shading, noise and a few flat coloured shapes (JPEG, q 90)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([xs * 200 / WIDTH, ys * 200 / HEIGHT, (xs + ys) * 100 / (WIDTH + HEIGHT)], axis=-1)
    pixels = base + rng.normal(0, 12, size=base.shape)
    for _ in range(6):
        x0, y0 = rng.integers(0, WIDTH - 200), rng.integers(0, HEIGHT - 200)
        pixels[y0 : y0 + rng.integers(40, 200), x0 : x0 + rng.integers(40, 200)] = rng.integers(0, 255, 3)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def prepare_home(home: Path, photos: int) -> list[str]:
    """Store the photos under Open Food Facts paths; their ``images.openfoodfacts.org`` URLs."""
    store = SqliteStore(home / "logo-ann.sqlite3")
    images = LocalImageStore(home / "buckets")
    urls = []
    for i in range(photos):
        source_image = source_image_of(f"{3_000_000_000_000 + i}", "1")
        ref = images.put(BUCKET, source_image.lstrip("/"), photo(i), "image/jpeg")
        store.upsert_image(ref, None, "image/jpeg")
        urls.append("https://images.openfoodfacts.org/images/products" + source_image)
    store.close()
    return urls


def start_server(home: Path, port: int, models: dict[str, Path]) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        LOGO_ANN_HOME=str(home),
        LOGO_ANN_CROP_FETCH="false",
        LOGO_ANN_DETECTOR_MODEL=str(models["detector"]),
        LOGO_ANN_EMBEDDER_MODEL=str(models["embedder"]),
    )
    code = (
        "import logging; logging.basicConfig(level=logging.WARNING);"
        "from common.bootstrap import Container; from common.settings import load_settings;"
        "from common.cli.serve import serve;"
        f"serve(Container(load_settings()), '127.0.0.1', {port}, watch_inbox=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/api/v1/info")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        finally:
            conn.close()
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the API server did not start (exit code {proc.poll()})")
        time.sleep(0.3)


def boxes(seed: int, count: int) -> list[tuple[float, float, float, float]]:
    """Logo-sized boxes ``(y_min, x_min, y_max, x_max)``: 5 % to 35 % of each side."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        h, w = rng.uniform(0.05, 0.35, 2)
        y, x = rng.uniform(0, 1 - h), rng.uniform(0, 1 - w)
        found.append((float(y), float(x), float(y + h), float(x + w)))
    return found


def load(port: int, urls: list[str], per_photo: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of each photo's first crop, and of the following ones."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    first, repeat = [], []
    for i, url in enumerate(urls):
        for j, (y0, x0, y1, x1) in enumerate(boxes(i, per_photo)):
            query = urllib.parse.urlencode({"image_url": url, "y_min": y0, "x_min": x0, "y_max": y1, "x_max": x1})
            started = time.perf_counter()
            conn.request("GET", f"/api/v1/images/crop?{query}")
            response = conn.getresponse()
            body = response.read()
            (first if j == 0 else repeat).append(time.perf_counter() - started)
            if response.status != 200 or not body.startswith(b"\xff\xd8"):
                raise RuntimeError(f"bad crop answer {response.status}: {body[:200]!r}")
    conn.close()
    return np.asarray(first), np.asarray(repeat)


def run(workdir: Path, models: dict[str, Path], photos: int, per_photo: int) -> list[dict[str, Any]]:
    home = workdir / "crop-home"
    urls = prepare_home(home, photos)
    port = free_port()
    proc = start_server(home, port, models)
    try:
        load(port, urls[:2], 2)  # warm up the process (imports, first connections)
        first, repeat = load(port, urls[2:], per_photo)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    common = {"benchmark": "crop", "photo": f"{WIDTH}x{HEIGHT} JPEG q90 (stored)", "server": "waitress"}
    records = [
        {**common, "case": case, "requests": len(t), "p50_ms": _ms(t, 50), "p99_ms": _ms(t, 99), "goal_p50_ms": 20.0}
        for case, t in (
            ("first crop of a photo (read + decode)", first),
            ("further crops (decoded photo kept)", repeat),
        )
    ]
    everything = np.concatenate([first, repeat])
    records.append({**common, "case": "all requests", "requests": len(everything), "p50_ms": _ms(everything, 50),
                    "p99_ms": _ms(everything, 99), "goal_p50_ms": 20.0})  # fmt: skip
    for record in records:
        log.info("crop: %s", record)
    return records


def _ms(seconds: np.ndarray, q: float) -> float:
    return float(np.percentile(seconds, q) * 1e3)


def main() -> None:
    """``python -m bench.crop``: the crop figures alone, written to ``bench/results/crop.json``."""
    import json
    import shutil
    import tempfile

    from bench.models import ensure

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="crop-bench-"))
    try:
        records = run(workdir, ensure(), 50, 10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for record in records:
        record["mode"] = "crop only"
    out = Path(__file__).resolve().parent / "results" / "crop.json"
    out.write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
