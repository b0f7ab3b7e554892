"""The same embedder batching and pipeline through a real Triton server (PyTriton, HTTP).

Needs ``.venv-triton`` (``make triton-venv``); without it the records say why they are empty.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench import pipeline
from bench.throughput import batch_throughput

log = logging.getLogger(__name__)


def _embedder_batches(url: str, sizes: list[int], seconds_per_size: float) -> list[dict[str, Any]]:
    from common.adapters.triton_session import TritonSession

    session = TritonSession(url, "clip", timeout_s=120.0)
    return batch_throughput(
        lambda batch: session.run(None, {"pixel_values": batch}),
        sizes,
        seconds_per_size,
        benchmark="batching",
        runtime="triton-http (PyTriton, onnxruntime CPU inside)",
    )


def run(models: dict[str, Path], workdir: Path, images: int, sizes: list[int], seconds: float) -> list[dict[str, Any]]:
    try:
        from stack.triton_fixture import start_triton

        root = Path(tempfile.mkdtemp(prefix="lab-"))  # short: Triton's socket paths are limited
        server = start_triton(root, detector=models["detector"], embedder=models["embedder"], timeout=180.0)
    except BaseException as exc:  # noqa: BLE001 - pytest.skip raises a BaseException when the venv is missing
        if isinstance(exc, KeyboardInterrupt):
            raise
        log.warning("Triton benchmarks skipped: %s", exc)
        return [{"benchmark": "triton", "skipped": True, "reason": str(exc)[:300]}]
    try:
        records = _embedder_batches(server.url, sizes, seconds)
        home = workdir / "triton-home"
        container = pipeline.container_for(home, models, model_runtime="triton", triton_url=server.url)
        paths = pipeline.sample_images(workdir / "images", images + 1)
        elapsed, boxes = pipeline.run_pipeline(paths, container)
        records.append(
            {
                "benchmark": "pipeline",
                "path": "pipeline through Triton (HTTP)",
                "runtime": "triton-http",
                "images": images,
                "seconds": elapsed,
                "images_per_s": images / elapsed,
                "logos_found": sum(len(b) for b in boxes),
            }
        )
        return records
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
