"""A real embedded pipeline for the reliability tests: local folder, SQLite, onnxruntime, usearch.

The detector is a stand-in ONNX model whose output is fixed (``build_constant_detector``), so a
test knows exactly which box it will report: one box given in letterboxed 640×640 pixels.
The embedder is the stand-in CLIP vision export. Everything else is production code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.bootstrap import Container
from common.ports.work_queue import WorkQueue
from common.settings import load_settings
from offline.models.standin_detector import build_constant_detector
from offline.models.standin_embedder import build_vision_embedder

LETTERBOX = 640
WHOLE = (320.0, 320.0, 640.0, 640.0)  # cx, cy, w, h covering the whole letterboxed canvas


def constant_detector(path: Path, box: tuple[float, float, float, float] = WHOLE, score: float = 0.9) -> Path:
    """A detector that always finds one logo at ``box`` (letterboxed ``cx, cy, w, h``)."""
    raw = np.zeros((1, 5, 8), dtype=np.float32)
    raw[0, :, 0] = [*box, score]
    return build_constant_detector(path, raw, LETTERBOX)


def embedded_container(
    home: Path, detector: Path | None = None, queue: WorkQueue | None = None, **overrides: Any
) -> Container:
    """A container over the embedded adapters (or ``queue``), models built under ``home/models``."""
    models = home / "models"
    embedder = models / "embedder.onnx"
    if not embedder.exists():
        build_vision_embedder(embedder, dim=64, seed=3)
    if detector is None:
        detector = constant_detector(models / "detector.onnx")
    settings = load_settings({}, home=home, detector_model=str(detector), embedder_model=str(embedder), **overrides)
    return Container(settings, queue=queue)


def index_matches_store(container: Container) -> tuple[set[int], set[int]]:
    """(ids in the ANN index, ids with an embedding in the store)."""
    stored: set[int] = set()
    for ids, _ in container.store.iter_embeddings():
        stored.update(ids)
    return container.fresh_index().ids(), stored
