"""The composition root: builds every adapter lazily, once per process, from ``Settings``.

Nothing here touches the network at import time. Cloud functions keep one ``Container`` per
instance (``get_container()``) so warm invocations reuse sessions, clients and pools.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Protocol, runtime_checkable

import common.adapters  # noqa: F401  (imports onnxruntime before usearch)
from common.messages import CropsMessage
from common.pipeline.detect import DetectDeps
from common.pipeline.embed_index import EmbedDeps, embed_and_index
from common.pipeline.neighbours import NeighbourLists
from common.pipeline.search import SearchService
from common.settings import Settings, load_settings

logger = logging.getLogger(__name__)


@runtime_checkable
class DerivedIndex(Protocol):
    """An index kept on local disk and caught up from the store's change log (embedded)."""

    def reload_if_changed(self) -> bool: ...

    def catch_up(self, store: Any) -> int: ...


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._last_sync = 0.0

    # --- adapters --------------------------------------------------------------------
    @functools.cached_property
    def store(self) -> Any:
        s = self.settings
        if s.store == "postgres":
            from common.adapters.postgres_store import PostgresStore

            return PostgresStore(s.database_url, pool_size=s.db_pool_size, off_image_prefix=s.off_image_prefix)
        from common.adapters.sqlite_store import SqliteStore

        s.home.mkdir(parents=True, exist_ok=True)
        return SqliteStore(s.sqlite_path, off_image_prefix=s.off_image_prefix)

    @functools.cached_property
    def images(self) -> Any:
        s = self.settings
        if s.image_store == "s3":
            from common.adapters.s3_image_store import S3ImageStore

            return S3ImageStore(s.s3_endpoint_url, s.s3_region, s.s3_access_key_id, s.s3_secret_access_key)
        from common.adapters.local_image_store import LocalImageStore

        return LocalImageStore(s.local_bucket_dir)

    @functools.cached_property
    def queue(self) -> Any:
        s = self.settings
        if s.queue == "pubsub":
            from common.adapters.pubsub_queue import PubSubQueue

            return PubSubQueue(s.pubsub_project, s.crops_topic)
        from common.adapters.inprocess_queue import InProcessQueue

        return InProcessQueue(self.handle_crops)

    def _session(self, path: str, triton_name: str) -> Any:
        s = self.settings
        if s.model_runtime == "triton":
            from common.adapters.triton_session import TritonSession

            return TritonSession(s.triton_url, triton_name, timeout_s=s.triton_timeout_s)
        from common.adapters.onnx_session import OnnxSession

        return OnnxSession(path)

    @functools.cached_property
    def detector(self) -> Any:
        from common.detector import Detector

        s = self.settings
        names = [n.strip() for n in s.detector_classes.split(",") if n.strip()] or None
        session = self._session(s.detector_model, s.detector_triton_name)
        return Detector(
            session,
            score_threshold=s.score_threshold,
            nms_iou=s.nms_iou,
            max_detections=s.max_logos_per_image,
            class_names=names,
        )

    @functools.cached_property
    def embedder(self) -> Any:
        from common.embedder import Embedder

        s = self.settings
        session = self._session(s.embedder_model, s.embedder_triton_name)
        return Embedder(session, batch_size=s.embed_batch_size, crop_recipe=s.crop_recipe)

    @functools.cached_property
    def index(self) -> Any:
        s = self.settings
        dim = self.embedding_dim()
        if s.index == "elasticsearch":
            from common.adapters.elasticsearch_index import ElasticsearchIndex

            es = ElasticsearchIndex(
                s.es_url,
                api_key=s.es_api_key,
                alias=s.es_index,
                dim=dim,
                index_type=s.es_index_type,
                m=s.es_m,
                ef_construction=s.es_ef_construction,
                num_candidates_min=s.es_num_candidates_min,
                num_candidates_factor=s.es_num_candidates_factor,
                timeout=s.es_timeout_s,
            )
            es.ensure_index()
            return es
        from common.adapters.usearch_index import UsearchIndex

        index = UsearchIndex(
            s.index_dir,
            dim,
            dtype=s.index_dtype,
            connectivity=s.index_connectivity,
            expansion_add=s.index_expansion_add,
            expansion_search=s.index_expansion_search,
            rescore=s.index_rescore,
        )
        index.catch_up(self.store)
        return index

    @functools.cached_property
    def crops(self) -> Any:
        """Crops by image URL (``common.crops``), with its decoded-image cache."""
        from common.crops import CropService, DecodedImageCache
        from common.remote_images import FetchPolicy

        s = self.settings
        policy = FetchPolicy(s.crop_host_set, max_bytes=s.max_image_bytes, timeout_s=s.crop_fetch_timeout_s)
        cache = DecodedImageCache(s.crop_cache_bytes)
        return CropService(
            self.store, self.images, cache, policy, s.crop_fetch, s.max_image_pixels, s.max_image_bytes
        )

    def embedding_dim(self) -> int:
        """The index dimension: from stored embeddings if any, else from the embedder model."""
        for _, matrix in self.store.iter_embeddings(batch_size=1):
            return int(matrix.shape[1])
        return int(self.embedder.dim)

    def fresh_index(self) -> Any:
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
            self.lazy_index(),
            s.max_image_bytes,
            s.max_image_pixels,
            s.max_attempts,
        )

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
        )

    def handle_crops(self, message: CropsMessage) -> None:
        with self._lock:
            embed_and_index(message, self.embed_deps())

    def lazy_index(self) -> Any:
        return _LazyIndex(self)

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
    """Defers building the index until a use case really touches it (detect rarely does)."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container.fresh_index(), name)


_container: Container | None = None
_container_lock = threading.Lock()


def get_container() -> Container:
    """One container per process (per function instance), built on first use."""
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(load_settings())
        return _container
