"""The composition root: builds every adapter lazily, once per process, from ``Settings``.

Nothing here touches the network at import time. Cloud functions keep one ``Container`` per
instance (``get_container()``) so warm invocations reuse sessions, clients and pools.

Every member is typed by its port. ``Container(settings, store=..., index=..., ...)`` takes
ready-made adapters in place of the ones the settings choose (tests pass fakes this way).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from common.adapters.build import (
    build_detector,
    build_embedder,
    build_images,
    build_index,
    build_queue,
    build_store,
)
from common.crops import CropService, DecodedImageCache
from common.domain import Neighbour, StoredObject
from common.messages import QueueMessage, RevoteMessage
from common.pipeline.detect import DetectDeps, DetectResult, detect_object
from common.pipeline.embed_index import EmbedDeps, embed_and_index
from common.pipeline.intake import Intake
from common.pipeline.linear import Outbox, run_linear
from common.pipeline.neighbours import NeighbourLists
from common.pipeline.search import SearchService
from common.ports.crops_queue import CropsQueue
from common.ports.image_store import ImageStore
from common.ports.metadata_store import MetadataStore
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.vector_index import DerivedIndex, VectorIndex
from common.remote_images import FetchPolicy
from common.settings import Settings, load_settings

__all__ = ["Container", "DerivedIndex", "get_container"]


class Container:
    def __init__(
        self,
        settings: Settings,
        *,
        store: MetadataStore | None = None,
        index: VectorIndex | None = None,
        images: ImageStore | None = None,
        queue: CropsQueue | None = None,
        detector: LogoDetector | None = None,
        embedder: CropEmbedder | None = None,
    ) -> None:
        self.settings = settings
        self.models_are_standins: bool | None = None  # None: read from the model files
        self._lock = threading.RLock()
        self._build_lock = threading.RLock()
        self._last_sync = 0.0
        self._store, self._index, self._images = store, index, images
        self._queue, self._detector, self._embedder = queue, detector, embedder
        self._crops: CropService | None = None

    def _once(self, attribute: str, build: Any) -> Any:
        """The member kept in ``attribute``, built by ``build()`` on first use (thread-safe)."""
        value = getattr(self, attribute)
        if value is None:
            with self._build_lock:
                value = getattr(self, attribute)
                if value is None:
                    value = build()
                    setattr(self, attribute, value)
        return value

    # --- adapters --------------------------------------------------------------------
    @property
    def store(self) -> MetadataStore:
        store: MetadataStore = self._once("_store", lambda: build_store(self.settings))
        return store

    @property
    def images(self) -> ImageStore:
        images: ImageStore = self._once("_images", lambda: build_images(self.settings))
        return images

    @property
    def queue(self) -> CropsQueue:
        queue: CropsQueue = self._once("_queue", lambda: build_queue(self.settings, self.handle_crops))
        return queue

    @property
    def detector(self) -> LogoDetector:
        detector: LogoDetector = self._once("_detector", lambda: build_detector(self.settings))
        return detector

    @property
    def embedder(self) -> CropEmbedder:
        embedder: CropEmbedder = self._once("_embedder", lambda: build_embedder(self.settings))
        return embedder

    @property
    def index(self) -> VectorIndex:
        index: VectorIndex = self._once("_index", self._build_index)
        return index

    def _build_index(self) -> VectorIndex:
        index = build_index(self.settings, self.embedding_dim())
        if isinstance(index, DerivedIndex):
            index.catch_up(self.store)
        return index

    @property
    def crops(self) -> CropService:
        """Crops by image URL (``common.crops``), with its decoded-image cache."""
        crops: CropService = self._once("_crops", self._build_crops)
        return crops

    def _build_crops(self) -> CropService:
        s = self.settings
        policy = FetchPolicy(s.crop_host_set, max_bytes=s.max_image_bytes, timeout_s=s.crop_fetch_timeout_s)
        cache = DecodedImageCache(s.crop_cache_bytes)
        return CropService(self.store, self.images, cache, policy, s.crop_fetch, s.max_image_pixels, s.max_image_bytes)

    def embedding_dim(self) -> int:
        """The index dimension: the index's once built, else stored embeddings', else the embedder's."""
        if self._index is not None:
            return int(self._index.dim)
        for _, matrix in self.store.iter_embeddings(batch_size=1):
            return int(matrix.shape[1])
        return int(self.embedder.dim)

    def fresh_index(self) -> VectorIndex:
        """The index, caught up with writes made by other processes (embedded mode)."""
        index = self.index
        if isinstance(index, DerivedIndex) and time.monotonic() - self._last_sync > 0.2:
            with self._lock:
                index.reload_if_changed()
                index.catch_up(self.store)
                self._last_sync = time.monotonic()
        return index

    # --- use case wiring ---------------------------------------------------------------
    def detect_deps(self) -> DetectDeps:
        s = self.settings
        return DetectDeps(
            self.store,
            self.images,
            self.detector,
            self.queue,
            _LazyIndex(self),
            s.max_image_bytes,
            s.max_image_pixels,
            s.max_attempts,
            carry=self._carry,
        )

    def detect(self, stored: StoredObject) -> DetectResult:
        """The detect use case as this deployment runs it. With the embedded in-process queue the
        pipeline is linear (``common.pipeline.linear``): detect returns, then each crops message it
        queued is delivered once; elsewhere the queue carries them to ``embed_index``."""
        deps = self.detect_deps()
        if isinstance(deps.queue, Outbox):
            return run_linear(stored, deps, deps.queue, self.handle_crops)
        return detect_object(stored.ref, stored.size, stored.content_type, deps)

    def intake(self) -> Intake:
        """Uploads: stored, then run here, or (``LOGO_ANN_PIPELINE=platform``) left to the platform."""
        s = self.settings
        return Intake(self.images, s.bucket, None if s.pipeline == "platform" else self.detect)

    def _carry(self, image: Any, logos: Any) -> None:
        from common.pipeline.carry import carry_annotations

        carry_annotations(self.store, self.notes, image, logos)

    def embed_deps(self) -> EmbedDeps:
        s = self.settings
        index = self.fresh_index()
        neighbours = NeighbourLists(self.store, index, s.neighbours_k, s.neighbours_update_candidates)
        return EmbedDeps(
            self.store,
            self.images,
            self.embedder,
            index,
            neighbours,
            s.max_image_bytes,
            s.max_image_pixels,
            s.max_attempts,
            revote=lambda ids: self.propagation().revote(ids),
        )

    def handle_crops(self, message: QueueMessage) -> None:
        with self._lock:
            if isinstance(message, RevoteMessage):
                self.propagation().revote(message.logo_ids)
            else:
                embed_and_index(message, self.embed_deps())

    # --- annotations and propagation ---------------------------------------------------
    @functools.cached_property
    def notes(self) -> Any:
        """The annotation store, on the metadata store's database."""
        from common.adapters.sql.annotations import SqlAnnotations

        return SqlAnnotations(self.store.db)  # type: ignore[attr-defined]

    @property
    def annotations(self) -> Any:
        """The annotation store (``AnnotationStore``), as the LogoDetails routes read it."""
        return self.notes

    @functools.cached_property
    def taxonomies(self) -> Any:
        from common.labels.taxonomy import Taxonomies, default_sources

        s = self.settings
        explicit = {"labels": s.taxonomy_labels, "brands": s.taxonomy_brands, "categories": s.taxonomy_categories}
        return Taxonomies(default_sources(explicit, s.home), refresh_s=s.taxonomy_refresh_s)

    @functools.cached_property
    def vote_params(self) -> Any:
        from common.labels.vote import VoteParams

        return VoteParams(self.settings.vote_max_distance, self.settings.vote_prior_weight)

    def propagation(self) -> Any:
        from common.pipeline.propagate import Propagation

        with self._lock:
            found = self.__dict__.get("_propagation")
            if found is None:
                found = Propagation(
                    self.store, self.notes, self.vote_params, self.queue, self.settings.revote_inline_max
                )
                self.__dict__["_propagation"] = found
            return found

    def annotator(self) -> Any:
        from common.pipeline.annotate import Annotator

        return Annotator(self.notes, self.taxonomies, self.propagation())

    def search_service(self) -> SearchService:
        s = self.settings
        return SearchService(
            self.store,
            self.fresh_index,
            lambda: self.detector,
            lambda: self.embedder,
            s.max_image_bytes,
            s.max_image_pixels,
        )


class _LazyIndex:
    """A ``VectorIndex`` that builds the container's index only when a use case really touches it
    (detect rarely does: only to retire a replaced or deleted image's logos)."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def _index(self) -> VectorIndex:
        return self._container.fresh_index()

    @property
    def dim(self) -> int:
        return self._index().dim

    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        self._index().upsert(ids, vectors)

    def delete(self, ids: Iterable[int]) -> None:
        self._index().delete(ids)

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        return self._index().search(vector, k, exclude)

    def ids(self) -> set[int]:
        return self._index().ids()

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        return self._index().get_vectors(ids)

    def count(self) -> int:
        return self._index().count()

    def flush(self) -> None:
        self._index().flush()

    def health(self) -> Mapping[str, Any]:
        return self._index().health()


_container: Container | None = None
_container_lock = threading.Lock()


def get_container() -> Container:
    """One container per process (per function instance), built on first use."""
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(load_settings())
        return _container


def set_container(container: Container | None) -> Container | None:
    """Make ``container`` the process's container (``None``: build one from the environment on
    next use); returns the one it replaces. The entry points follow the change."""
    global _container
    with _container_lock:
        previous, _container = _container, container
        return previous
