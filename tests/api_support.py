"""An API over fakes, shared by the API, OpenAPI-fuzz and web-page tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common.bootstrap import Container
from common.domain import Box, Detection, Neighbour, StoredObject
from common.ports.metadata_store import MetadataStore
from common.settings import load_settings
from tests.fakes import BruteForceIndex, CannedDetector, ColourEmbedder, DictImageStore

BOXES = (Box(0.1, 0.1, 0.4, 0.4), Box(0.5, 0.5, 0.9, 0.9))
LABELS = ("logo", "badge")  # the canned detector's label for each box


class CountingIndex(BruteForceIndex):
    """The brute-force index, counting searches, with the embedded index's sync methods as no-ops."""

    def __init__(self) -> None:
        super().__init__()
        self.searches = 0

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        self.searches += 1
        return super().search(vector, k, exclude)

    def reload_if_changed(self) -> bool:
        return False

    def catch_up(self, store: Any) -> int:
        return 0


def two_squares(colour_a: tuple[int, int, int], colour_b: tuple[int, int, int], size: int = 200) -> bytes:
    """A white PNG with two coloured squares where ``BOXES`` lie (the canned detector finds them)."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    for box, colour in zip(BOXES, (colour_a, colour_b), strict=True):
        corners = (int(box.x_min * size), int(box.y_min * size), int(box.x_max * size), int(box.y_max * size))
        image.paste(colour, corners)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def api_container(tmp_path: Path, store: MetadataStore | None = None, **overrides: Any) -> Container:
    """A container over SQLite (or ``store``) and fakes: canned detector (``BOXES``), colour embedder,
    brute-force index; the embedded in-process queue delivers each crops message after detect."""
    from common.adapters.sqlite_store import SqliteStore

    unused = {
        "detector_model": str(tmp_path / "unused-detector.onnx"),  # the fakes stand in for both
        "embedder_model": str(tmp_path / "unused-embedder.onnx"),
    }
    settings = load_settings({}, home=tmp_path, **{**unused, **overrides})
    return Container(
        settings,
        store=store or SqliteStore(tmp_path / "meta.sqlite3", off_image_prefix=settings.off_image_prefix),
        images=DictImageStore(),
        detector=CannedDetector(
            [Detection(box, 0.9 - 0.1 * i, label) for i, (box, label) in enumerate(zip(BOXES, LABELS, strict=True))]
        ),
        embedder=ColourEmbedder(),
        index=CountingIndex(),
    )


def ingest(
    container: Container, pairs: list[tuple[tuple[int, int, int], tuple[int, int, int]]], first: int = 0
) -> None:
    """Upload one image per colour pair (``photo-{first}.png`` on) and run the pipeline: two logos each."""
    for i, (a, b) in enumerate(pairs, start=first):
        ref = container.images.put(container.settings.bucket, f"photo-{i}.png", two_squares(a, b))
        container.detect(StoredObject(ref, None, "image/png"))
