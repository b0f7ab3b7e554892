"""The composition root: builds every adapter lazily, once per process, from ``Settings``.

Nothing here touches the network at import time. Cloud functions keep one ``Container`` per
instance (``get_container()``) so warm invocations reuse sessions, clients and pools.

Every member is typed by its port. ``Container(settings, store=..., index=..., ...)`` takes
ready-made adapters in place of the ones the settings choose (tests pass fakes this way).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from common.adapters.build import (
    build_detector,
    build_embedder,
    build_images,
    build_index,
    build_queue,
    build_store,
)
from common.domain import StoredObject
from common.errors import ConfigError
from common.lazy_index import LazyIndex
from common.messages import QueueMessage, RevoteMessage
from common.outbound import Outbound
from common.pipeline.crops import CropService, DecodedImageCache, SizedCache
from common.pipeline.detect import DetectDeps, DetectResult, detect_object
from common.pipeline.embed_index import EmbedDeps, embed_and_index
from common.pipeline.intake import Intake
from common.pipeline.linear import Outbox, run_linear
from common.pipeline.low_priority import LowPriorityPool
from common.pipeline.neighbours import NeighbourLists
from common.pipeline.search import SearchService
from common.ports.crops_queue import CropsQueue
from common.ports.image_store import ImageStore
from common.ports.metadata_store import MetadataStore
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.vector_index import DerivedIndex, VectorIndex
from common.remote_images import DEPENDENCY, FetchPolicy, public_or_within
from common.settings import Settings, load_settings

if TYPE_CHECKING:
    from common.labels.taxonomy import Taxonomies
    from common.labels.vote import VoteParams
    from common.pipeline.annotate import Annotator
    from common.pipeline.propagate import Propagation
    from common.pipeline.quests import Quests
    from common.ports.annotation_store import AnnotationStore

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
        self._notes: AnnotationStore | None = None
        self._taxonomies: Taxonomies | None = None
        self._propagation: Propagation | None = None
        self._quests: Quests | None = None

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
        """Crops by image URL (``common.pipeline.crops``), with its decoded-image cache."""
        crops: CropService = self._once("_crops", self._build_crops)
        return crops

    def _build_crops(self) -> CropService:
        s = self.settings
        policy = FetchPolicy(
            s.crop_host_set,
            max_bytes=s.max_image_bytes,
            timeout_s=s.crop_fetch_timeout_s,
            ports=s.crop_port_set,
            address_allowed=public_or_within(s.crop_network_list),
        )
        cache = DecodedImageCache(s.crop_cache_bytes)
        remote = Outbound(DEPENDENCY, s.crop_fetch_concurrency, s.crop_miss_ttl_s, s.crop_failure_ttl_s)
        decoder = LowPriorityPool(s.crop_decode_threads, s.crop_decode_niceness, "crop-decode")
        jpegs = SizedCache[bytes](s.crop_jpeg_cache_bytes, len)
        return CropService(
            self.store, self.images, cache, policy, s.crop_fetch, s.max_image_pixels, s.max_image_bytes, remote,
            decoder, jpegs,
        )  # fmt: skip

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
        # the clock first: a runtime-checked Protocol's isinstance costs 6-20 us, every request
        if time.monotonic() - self._last_sync > 0.2 and isinstance(index, DerivedIndex):
            # Once caught up, a request does not wait while another thread catches up (or holds the
            # lock to index a photo): it searches the index as it is, at most that sync behind.
            # Waiting made every search that arrived during a sync queue behind it, one sync each.
            if not self._lock.acquire(blocking=self._last_sync == 0.0):
                return index
            try:
                if time.monotonic() - self._last_sync > 0.2:  # not done meanwhile by the thread before
                    index.reload_if_changed()
                    index.catch_up(self.store)
                    self._last_sync = time.monotonic()
            finally:
                self._lock.release()
        return index

    # --- use case wiring ---------------------------------------------------------------
    def detect_deps(self) -> DetectDeps:
        s = self.settings
        return DetectDeps(
            self.store,
            self.images,
            self.detector,
            self.queue,
            LazyIndex(self.fresh_index),
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
            revote=self._after_index,
        )

    def _after_index(self, ids: Any) -> None:
        """New logos were indexed and these lists changed: re-vote them, follow the quests' clusters."""
        self.propagation().revote(ids)
        self.quests().update(ids, citing=False)

    def handle_crops(self, message: QueueMessage) -> None:
        with self._lock:
            if isinstance(message, RevoteMessage):
                self.propagation().revote(message.logo_ids)
            else:
                embed_and_index(message, self.embed_deps())

    # --- annotations and propagation ---------------------------------------------------
    @property
    def notes(self) -> AnnotationStore:
        """The annotation store, on the metadata store's database."""
        notes: AnnotationStore = self._once("_notes", self._build_notes)
        return notes

    def _build_notes(self) -> AnnotationStore:
        from common.adapters.sql.annotations import SqlAnnotations
        from common.adapters.sql_store import SqlStore

        store = self.store
        if not isinstance(store, SqlStore):
            raise ConfigError("annotations live in the SQL metadata store (LOGO_ANN_STORE=sqlite or postgres)")
        return SqlAnnotations(store.db)

    @property
    def annotations(self) -> AnnotationStore:
        """The annotation store, as the LogoDetails routes read it."""
        return self.notes

    @property
    def taxonomies(self) -> Taxonomies:
        taxonomies: Taxonomies = self._once("_taxonomies", self._build_taxonomies)
        return taxonomies

    def _build_taxonomies(self) -> Taxonomies:
        from common.labels.taxonomy import Taxonomies, default_sources

        s = self.settings
        explicit = {"labels": s.taxonomy_labels, "brands": s.taxonomy_brands, "categories": s.taxonomy_categories}
        return Taxonomies(
            default_sources(explicit, s.home),
            refresh_s=s.taxonomy_refresh_s,
            timeout_s=s.taxonomy_timeout_s,
            failure_ttl_s=s.taxonomy_failure_ttl_s,
        )

    @property
    def vote_params(self) -> VoteParams:
        from common.labels.vote import VoteParams

        return VoteParams(self.settings.vote_max_distance, self.settings.vote_prior_weight)

    def propagation(self) -> Propagation:
        propagation: Propagation = self._once("_propagation", self._build_propagation)
        return propagation

    def _build_propagation(self) -> Propagation:
        from common.pipeline.propagate import Propagation

        s = self.settings
        return Propagation(self.store, self.notes, self.vote_params, self.queue, s.revote_inline_max)

    def annotator(self) -> Annotator:
        from common.pipeline.annotate import Annotator

        return Annotator(self.notes, self.taxonomies, self.propagation(), on_change=self.quests().update)

    def quests(self) -> Quests:
        """The quests' clusters of unannotated look-alikes (``common.pipeline.quests``)."""
        quests: Quests = self._once("_quests", self._build_quests)
        return quests

    def _build_quests(self) -> Quests:
        from common.adapters.sql.quests import SqlQuests
        from common.pipeline.quests import Quests

        notes = self.notes  # the SQL store (checked there)
        db = notes.db  # type: ignore[attr-defined]
        return Quests(self.store, notes, SqlQuests(db), self.settings.cluster_max_distance)

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
