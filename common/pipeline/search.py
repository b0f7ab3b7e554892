"""Use case: a query is three named steps, vector → kNN → metadata.

Each step is timed into ``timings`` (``vector``, ``knn``, and ``decode``/``detect``/``embed`` for
an image), which the API reports as ``Server-Timing``. Ranking for filtered or paginated
queries lives here too: a ranked list is computed once, deeper than the first page, filtered
by ``Filters``, and kept in a ``RankedCache`` keyed by the store's embedding generation.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from cachetools import LRUCache

from common.domain import Detection, Neighbour
from common.errors import BadQuery, NotFoundError
from common.inference.images import crop_truncated, decode_image
from common.observability import Timings
from common.ports.metadata_store import MetadataStore
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.vector_index import VectorIndex
from common.records.logos import LogoRecord

MAX_RANK_DEPTH = 1000  # deepest a paginated or filtered query ranks
MIN_RANK_DEPTH = 100


@dataclasses.dataclass(frozen=True)
class ImageMatch:
    """A logo detected in a query image, and its neighbours in the index."""

    detection: Detection
    neighbours: list[Neighbour]


@dataclasses.dataclass(frozen=True)
class Batch:
    """``by_logos``: the neighbours of each logo that has an embedding, and those that have none."""

    results: dict[int, list[Neighbour]]
    missing: list[int]


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which neighbours a filtered query keeps: annotated or not, a detector label, one image."""

    annotated: bool | None = None
    label: str | None = None
    image_id: int | None = None

    def active(self) -> bool:
        return self != Filters()

    def key(self) -> list[Any]:
        return [self.annotated, self.label, self.image_id]

    def matches(self, logo: LogoRecord) -> bool:
        annotated = logo.annotation_type is not None or logo.annotation_value is not None
        return (
            (self.annotated is None or annotated == self.annotated)
            and (self.label is None or logo.label == self.label)
            and (self.image_id is None or logo.image_id == self.image_id)
        )

    def apply(self, neighbours: list[Neighbour], store: MetadataStore) -> list[Neighbour]:
        if not self.active():
            return neighbours
        logos = {logo.id: logo for logo in store.get_logos([n.logo_id for n in neighbours])}
        return [n for n in neighbours if n.logo_id in logos and self.matches(logos[n.logo_id])]


@dataclasses.dataclass(frozen=True)
class Ranked:
    items: list[Neighbour]
    exhausted: bool  # nothing can follow ``items``: the index ran out, or the depth cap was hit

    def covers(self, need: int) -> bool:
        return self.exhausted or len(self.items) >= need


def rank_key(logo_id: int, generation: int, filters: Filters) -> tuple[Any, ...]:
    return (logo_id, generation, *filters.key())


class RankedCache:
    """A thread-safe LRU of ranked neighbour lists."""

    def __init__(self, size: int = 256) -> None:
        self._items: LRUCache[tuple[Any, ...], Ranked] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, key: tuple[Any, ...]) -> Ranked | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple[Any, ...], ranked: Ranked) -> None:
        with self._lock:
            if self._items.maxsize:
                self._items[key] = ranked


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
        """The index's dimension (the embedder is not loaded for it)."""
        return int(self.index().dim)

    def by_logos(self, logo_ids: Sequence[int], count: int) -> Batch:
        """Neighbours of every logo that has an embedding (batch search); the others are missing."""
        with self.timings.stage("vector"):
            vectors = self.store.get_embeddings(logo_ids)
        results = {i: self.knn(vectors[i], count, exclude=i) for i in logo_ids if i in vectors}
        return Batch(results, [i for i in logo_ids if i not in vectors])

    def generation(self) -> int:
        """The store's embedding change sequence: a ranking is valid for one generation."""
        return self.store.last_change_seq()

    def ranked(self, cache: RankedCache, logo_id: int, generation: int, filters: Filters, need: int) -> Ranked:
        """At least ``need`` filtered neighbours (or all there are), ranking deeper only when short."""
        key = rank_key(logo_id, generation, filters)
        cached = cache.get(key)
        if cached is not None and cached.covers(need):
            return cached
        depth = min(MAX_RANK_DEPTH, max(MIN_RANK_DEPTH, 4 * need))
        while True:
            raw = self.by_logo(logo_id, depth)
            items = filters.apply(raw, self.store)
            exhausted = len(raw) < depth or depth >= MAX_RANK_DEPTH
            if exhausted or len(items) >= need:
                break
            depth = min(MAX_RANK_DEPTH, depth * 4)
        ranked = Ranked(items, exhausted)
        cache.put(key, ranked)
        return ranked

    def by_image(self, data: bytes, count: int) -> list[ImageMatch]:
        """Detect and embed on the fly; nothing is stored."""
        with self.timings.stage("decode"):
            image = decode_image(data, max_pixels=self.max_image_pixels, max_bytes=self.max_image_bytes)
        with self.timings.stage("detect"):
            detections = self.detector().detect(image)
        if not detections:
            return []
        with self.timings.stage("embed"):
            vectors = self.embedder().embed([crop_truncated(image, d.box) for d in detections])
        return [ImageMatch(d, self.knn(vector, count)) for d, vector in zip(detections, vectors, strict=True)]
