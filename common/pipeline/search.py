"""Use case: a query is three named steps, vector → kNN → metadata."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from common.domain import Detection, Neighbour
from common.errors import InvalidEventError, NotFoundError
from common.images import crop_box, decode_image
from common.observability import Timings
from common.ports.metadata_store import MetadataStore
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.vector_index import VectorIndex


class BadQuery(InvalidEventError):
    """A query parameter or body the API rejects with 400."""


@dataclasses.dataclass(frozen=True)
class ImageMatch:
    """A logo detected in a query image, and its neighbours in the index."""

    detection: Detection
    neighbours: list[Neighbour]


@dataclasses.dataclass
class SearchService:
    store: MetadataStore
    index: Callable[[], VectorIndex]  # fresh (caught-up) index on each call
    detector: Callable[[], LogoDetector]
    embedder: Callable[[], CropEmbedder]
    max_image_bytes: int
    max_image_pixels: int
    timings: Timings = dataclasses.field(default_factory=Timings)  # per stage, e.g. for Server-Timing

    def by_logo(self, logo_id: int, count: int) -> list[Neighbour]:
        with self.timings.stage("vector"):
            vectors = self.store.get_embeddings([logo_id])
        if logo_id not in vectors:
            raise NotFoundError(f"logo {logo_id} does not exist or has no embedding")
        return self.knn(vectors[logo_id], count, exclude=logo_id)

    def knn(self, vector: np.ndarray, count: int, exclude: int | None = None) -> list[Neighbour]:
        """The index query itself, timed as the ``knn`` stage (after the index is caught up)."""
        index = self.index()
        with self.timings.stage("knn"):
            return index.search(vector, count, exclude=exclude)

    def random_logo(self) -> int | None:
        return self.store.random_logo_with_embedding()

    def by_vector(self, vector: Any, count: int) -> list[Neighbour]:
        return self.knn(self.check_vector(vector), count)

    def check_vector(self, vector: Any) -> np.ndarray:
        try:
            array = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise BadQuery("embedding must be a list of numbers") from exc
        dim = self.dim()
        if array.ndim != 1 or array.shape[0] != dim:
            raise BadQuery(f"embedding must have {dim} dimensions, got shape {list(array.shape)}")
        if not np.all(np.isfinite(array)):
            raise BadQuery("embedding values must be finite numbers")
        norm = float(np.linalg.norm(array))
        if norm == 0.0:
            raise BadQuery("embedding must not be the zero vector")
        return array / norm

    def dim(self) -> int:
        return int(self.embedder().dim)

    def by_image(self, data: bytes, count: int) -> list[ImageMatch]:
        """Detect and embed on the fly; nothing is stored."""
        with self.timings.stage("decode"):
            image = decode_image(data, max_pixels=self.max_image_pixels, max_bytes=self.max_image_bytes)
        with self.timings.stage("detect"):
            detections = self.detector().detect(image)
        if not detections:
            return []
        with self.timings.stage("embed"):
            vectors = self.embedder().embed([crop_box(image, d.box) for d in detections])
        return [ImageMatch(d, self.knn(vector, count)) for d, vector in zip(detections, vectors, strict=True)]
