"""Build the adapter each setting chooses; an adapter module is imported only when chosen.

``common.bootstrap.Container`` calls these lazily, so a function imports (and ships) only the
client libraries of the adapters its settings name.
"""

from __future__ import annotations

from common.ports.image_store import ImageStore
from common.ports.metadata_store import MetadataStore
from common.ports.model_session import ModelSession
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.vector_index import VectorIndex
from common.ports.work_queue import WorkQueue
from common.settings import Settings


def build_store(s: Settings) -> MetadataStore:
    if s.store == "postgres":
        from common.adapters.postgres_store import PostgresStore

        return PostgresStore(s.database_url, pool_size=s.db_pool_size, off_image_prefix=s.off_image_prefix)
    from common.adapters.sqlite_store import SqliteStore

    s.home.mkdir(parents=True, exist_ok=True)
    # a connection per server thread: SQLite's readers do not block each other (WAL), and with
    # fewer, searches waited for a connection behind logo-detail reads (docs/security.md)
    pool_size = max(s.db_pool_size, s.server_threads)
    return SqliteStore(s.sqlite_path, pool_size=pool_size, off_image_prefix=s.off_image_prefix)


def build_images(s: Settings) -> ImageStore:
    if s.image_store == "s3":
        from common.adapters.s3_image_store import S3ImageStore

        return S3ImageStore(s.s3_endpoint_url, s.s3_region, s.s3_access_key_id, s.s3_secret_access_key)
    from common.adapters.local_image_store import LocalImageStore

    return LocalImageStore(s.local_bucket_dir)


def build_queue(s: Settings) -> WorkQueue:
    """The work queue (crops and re-vote messages): the Pub/Sub topic the settings name
    (``LOGO_ANN_CROPS_TOPIC``), or the embedded in-process outbox."""
    if s.queue == "pubsub":
        from common.adapters.pubsub_queue import PubSubQueue

        return PubSubQueue(s.pubsub_project, s.crops_topic)
    from common.adapters.inprocess_queue import InProcessQueue

    # messages wait there: the embedded pipeline takes the crops (``common.pipeline.linear``),
    # the deferred-work thread the re-votes (``common.pipeline.deferred``)
    return InProcessQueue()


def build_session(s: Settings, path: str, triton_name: str) -> ModelSession:
    if s.model_runtime == "triton":
        from common.adapters.triton_session import TritonSession

        return TritonSession(s.triton_url, triton_name, timeout_s=s.triton_timeout_s)
    from common.adapters.onnx_session import OnnxSession

    return OnnxSession(path)


def build_detector(s: Settings) -> LogoDetector:
    from common.detector import Detector

    names = [n.strip() for n in s.detector_classes.split(",") if n.strip()] or None
    return Detector(
        build_session(s, s.detector_model, s.detector_triton_name),
        score_threshold=s.score_threshold,
        nms_iou=s.nms_iou,
        max_detections=s.max_logos_per_image,
        class_names=names,
    )


def build_embedder(s: Settings) -> CropEmbedder:
    from common.embedder import Embedder

    session = build_session(s, s.embedder_model, s.embedder_triton_name)
    return Embedder(session, batch_size=s.embed_batch_size, crop_recipe=s.crop_recipe)


def build_index(s: Settings, dim: int) -> VectorIndex:
    """The ANN index of ``dim``-d vectors (Elasticsearch: its index created when absent)."""
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
    if s.index == "packed":
        from common.adapters.packed_index import PackedIndex

        return PackedIndex(
            s.index_dir,
            dim,
            connectivity=s.index_connectivity,
            connectivity_base=s.index_connectivity_base,
            expansion_add=s.index_expansion_add,
            expansion_search=s.index_expansion_search,
        )
    from common.adapters.usearch_index import UsearchIndex

    return UsearchIndex(
        s.index_dir,
        dim,
        dtype=s.index_dtype,
        connectivity=s.index_connectivity,
        expansion_add=s.index_expansion_add,
        expansion_search=s.index_expansion_search,
        rescore=s.index_rescore,
    )
