"""The composition root: builds every adapter lazily, once per process, from ``Settings``.

Nothing here touches the network at import time. Cloud functions keep one ``Container`` per
instance (``get_container()``) so warm invocations reuse sessions, clients and pools.

It is the one place adapters are built (with ``common.adapters.build``): the API's routes reach
them through the app's container (``common.api.context``), the ``logo-ann`` commands through
theirs (``common.cli.support.container``), the functions through ``get_container()``. The
outbound HTTP clients (Product Opener's sign-in check, remote crop images, taxonomy files) are
built here too, with their bounds (``common.outbound``); the operator commands' adapters (a
Robotoff source, checkpoints, a backfill's sink, dead letters) are built afresh at each call.

Every member is typed by its port. ``Container(settings, store=..., index=..., ...)`` takes
ready-made adapters in place of the ones the settings choose (tests pass fakes this way).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.adapters.build import (
    build_backfill_sink,
    build_dead_letters,
    build_detector,
    build_embedder,
    build_images,
    build_index,
    build_publisher,
    build_queue,
    build_remote_images,
    build_robotoff_source,
    build_sign_in,
    build_store,
    build_taxonomy_source,
)
from common.domain import StoredObject
from common.errors import ConfigError
from common.lazy_index import LazyIndex
from common.outbound import Outbound
from common.pipeline.crops import CropService, DecodedImageCache, SizedCache
from common.pipeline.deferred import DeferredWork
from common.pipeline.deliver import MessageHandler
from common.pipeline.detect import DetectDeps, DetectResult
from common.pipeline.embed_index import EmbedDeps
from common.pipeline.intake import Intake
from common.pipeline.linear import EmbeddedPipeline, Outbox, Pipeline, QueuedPipeline
from common.pipeline.low_priority import LowPriorityPool
from common.pipeline.neighbours import NeighbourLists
from common.pipeline.propagate import Propagation
from common.pipeline.quests import Quests
from common.pipeline.search import SearchService
from common.ports.image_store import ImageStore
from common.ports.metadata_store import MetadataStore
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.remote_images import DEPENDENCY, RemoteImages
from common.ports.sign_in import SignIn
from common.ports.taxonomy_source import TaxonomySource
from common.ports.vector_index import DerivedIndex, VectorIndex
from common.ports.work_queue import WorkQueue
from common.settings import Settings, load_settings

if TYPE_CHECKING:
    from common.adapters.pubsub_dead_letters import PubSubDeadLetters
    from common.adapters.pubsub_publisher import PubSubPublisher
    from common.labels.taxonomy import Taxonomies
    from common.labels.vote import VoteParams
    from common.pipeline.annotate import Annotator
    from common.pipeline.backfill import BackfillSink
    from common.pipeline.imports import ImportSource
    from common.ports.annotation_store import AnnotationStore
    from common.ports.backfill_store import BackfillStore
    from common.ports.import_store import ImportStore

__all__ = ["Container", "DerivedIndex", "get_container"]


class Container:
    def __init__(
        self,
        settings: Settings,
        *,
        store: MetadataStore | None = None,
        index: VectorIndex | None = None,
        images: ImageStore | None = None,
        queue: WorkQueue | None = None,
        detector: LogoDetector | None = None,
        embedder: CropEmbedder | None = None,
        sign_in: SignIn | None = None,
        remote_images: RemoteImages | None = None,
        taxonomy_source: TaxonomySource | None = None,
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
        # the outbound HTTP clients (the sign-in check, remote images, taxonomy files)
        self._sign_in, self._remote_images, self._taxonomy_source = sign_in, remote_images, taxonomy_source
        self._handler: MessageHandler | None = None
        self._pipeline: Pipeline | None = None
        self._deferred: DeferredWork | None = None

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
    def queue(self) -> WorkQueue:
        queue: WorkQueue = self._once("_queue", lambda: build_queue(self.settings))
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
        cache = DecodedImageCache(s.crop_cache_bytes)
        remote = Outbound(DEPENDENCY, s.crop_fetch_concurrency, s.crop_miss_ttl_s, s.crop_failure_ttl_s)
        decoder = LowPriorityPool(s.crop_decode_threads, s.crop_decode_niceness, "crop-decode")
        jpegs = SizedCache[bytes](s.crop_jpeg_cache_bytes, len)
        return CropService(
            self.store, self.images, cache, self.remote_images, s.crop_fetch, s.max_image_pixels, s.max_image_bytes,
            remote, decoder, jpegs,
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
    @property
    def embedded(self) -> bool:
        """Whether the queue is the in-process outbox: the pipeline then runs in this process."""
        return isinstance(self.queue, Outbox)

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
            notes=self.notes,
        )

    def pipeline(self) -> Pipeline:
        """The pipeline as this deployment runs it: embedded, linear (``EmbeddedPipeline``: detect,
        then each crops message it queued, once); elsewhere detect only, the queue carrying the
        crops to ``embed_index``."""
        pipeline: Pipeline = self._once("_pipeline", self._build_pipeline)
        return pipeline

    def _build_pipeline(self) -> Pipeline:
        queue = self.queue
        if isinstance(queue, Outbox):
            return EmbeddedPipeline(self.detect_deps(), queue, self.handler())
        return QueuedPipeline(self.detect_deps())

    def detect(self, stored: StoredObject) -> DetectResult:
        """``pipeline().detect``: the detect use case as this deployment runs it."""
        return self.pipeline().detect(stored)

    def intake(self) -> Intake:
        """Uploads: stored, then run here, or (``LOGO_ANN_PIPELINE=platform``) left to the platform."""
        s = self.settings
        return Intake(self.images, s.bucket, None if s.pipeline == "platform" else self.pipeline())

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
            propagation=self.propagation(),
            quests=self.quests(),
        )

    def handler(self) -> MessageHandler:
        """What a queue message does (crops: embed and index; re-vote: re-vote), here and in ``embed_index``."""
        handler: MessageHandler = self._once("_handler", self._build_handler)
        return handler

    def _build_handler(self) -> MessageHandler:
        # embedded, embedding and the index catch-up take turns (both write the index)
        return MessageHandler(self.embed_deps, self.propagation(), self._lock if self.embedded else None)

    def work_queue(self) -> WorkQueue:
        """Where ``Propagation`` sends the re-votes past its bound: the queue, or embedded, the
        deferred-work thread over it (run after the request, ``common.pipeline.deferred``)."""
        queue = self.queue
        if not isinstance(queue, Outbox):
            return queue
        deferred: DeferredWork = self._once("_deferred", lambda: DeferredWork(queue, self.handler))
        return deferred

    def drain(self) -> None:
        """Wait for the deferred work published so far (embedded re-votes) to be done."""
        if self._deferred is not None:
            self._deferred.drain()

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
            self.taxonomy_source,
            default_sources(explicit, s.home),
            refresh_s=s.taxonomy_refresh_s,
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
        s = self.settings
        return Propagation(self.store, self.notes, self.vote_params, self.work_queue(), s.revote_inline_max)

    def annotator(self) -> Annotator:
        from common.pipeline.annotate import Annotator

        return Annotator(self.notes, self.taxonomies, self.propagation(), quests=self.quests())

    def quests(self) -> Quests:
        """The quests' clusters of unannotated look-alikes (``common.pipeline.quests``)."""
        quests: Quests = self._once("_quests", self._build_quests)
        return quests

    def _build_quests(self) -> Quests:
        from common.adapters.sql.quests import SqlQuests

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

    # --- outbound HTTP clients, each behind its port -----------------------------------
    @property
    def sign_in(self) -> SignIn:
        """The check of Open Food Facts credentials (Product Opener's ``auth.pl``), with its cache."""
        sign_in: SignIn = self._once("_sign_in", lambda: build_sign_in(self.settings))
        return sign_in

    @property
    def remote_images(self) -> RemoteImages:
        """The crop route's fetcher of images by URL, under the crop settings' policy."""
        remote: RemoteImages = self._once("_remote_images", lambda: build_remote_images(self.settings))
        return remote

    @property
    def taxonomy_source(self) -> TaxonomySource:
        """Where the taxonomy files are read from (a path or an http(s) URL)."""
        source: TaxonomySource = self._once("_taxonomy_source", lambda: build_taxonomy_source(self.settings))
        return source

    # --- the operator commands' adapters (built at each call; the command closes them) ---
    def robotoff_source(self, database_url: str | None = None, jsonl: Path | None = None) -> ImportSource:
        """A Robotoff database to import, or the JSONL file of its ``export-logos``."""
        return build_robotoff_source(database_url, jsonl)

    def imports(self) -> ImportStore:
        """The import checkpoints and writes, on the metadata store's database."""
        from common.adapters.sql.imports import SqlImports

        return SqlImports.of(self.store)

    def backfills(self) -> BackfillStore:
        """The backfill cursors, on the metadata store's database."""
        from common.adapters.sql.backfills import SqlBackfills

        return SqlBackfills.of(self.store)

    def backfill_sink(self, mode: str) -> BackfillSink:
        """Where a backfill hands each object (``mode``: auto, in-process or pubsub)."""
        return build_backfill_sink(self.settings, mode, self.detect)

    def dead_letters(self) -> PubSubDeadLetters:
        return build_dead_letters(self.settings)

    def publisher(self, topic: str) -> PubSubPublisher:
        return build_publisher(self.settings, topic)


_container: Container | None = None
_container_lock = threading.Lock()


def get_container() -> Container:
    """One container per process (per function instance), built on first use."""
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(load_settings())
        return _container


def drain_container() -> None:
    """Wait for the deferred work of the process's container, when one was built (a command's
    embedded re-votes are done before it exits)."""
    with _container_lock:
        container = _container
    if container is not None:
        container.drain()


def set_container(container: Container | None) -> Container | None:
    """Make ``container`` the process's container (``None``: build one from the environment on
    next use); returns the one it replaces. The entry points follow the change."""
    global _container
    with _container_lock:
        previous, _container = _container, container
        return previous
