"""Build the adapter each setting chooses; an adapter module is imported only when chosen.

``common.bootstrap.Container`` calls these lazily, so a function imports (and ships) only the
client libraries of the adapters its settings name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from common.ports.image_store import ImageStore
from common.ports.metadata_store import MetadataStore
from common.ports.model_session import ModelSession
from common.ports.models import CropEmbedder, LogoDetector
from common.ports.remote_images import RemoteImages
from common.ports.sign_in import SignIn
from common.ports.taxonomy_source import TaxonomySource
from common.ports.vector_index import VectorIndex
from common.ports.work_queue import WorkQueue
from common.settings import Settings

if TYPE_CHECKING:
    from common.adapters.pubsub_dead_letters import PubSubDeadLetters
    from common.adapters.pubsub_publisher import PubSubPublisher
    from common.domain import StoredObject
    from common.pipeline.backfill import BackfillSink
    from common.pipeline.detect import DetectResult
    from common.pipeline.imports import ImportSource


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
    from common.inference.detector import Detector

    names = [n.strip() for n in s.detector_classes.split(",") if n.strip()] or None
    return Detector(
        build_session(s, s.detector_model, s.detector_triton_name),
        score_threshold=s.score_threshold,
        nms_iou=s.nms_iou,
        max_detections=s.max_logos_per_image,
        class_names=names,
    )


def build_embedder(s: Settings) -> CropEmbedder:
    from common.inference.embedder import Embedder

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
        from common.embedded_index import PackedIndex

        return PackedIndex(
            s.index_dir,
            dim,
            connectivity=s.index_connectivity,
            connectivity_base=s.index_connectivity_base,
            expansion_add=s.index_expansion_add,
            expansion_add_seeded=s.index_expansion_add_seeded,
            expansion_search=s.index_expansion_search,
            expansion_search_at=s.index_expansion_search_at,
            expansion_search_growth=s.index_expansion_search_growth,
            expansion_search_narrow=s.index_expansion_search_narrow,
            near_tie_gap=s.index_near_tie_gap,
        )
    from common.embedded_index import UsearchIndex

    return UsearchIndex(
        s.index_dir,
        dim,
        dtype=s.index_dtype,
        connectivity=s.index_connectivity,
        expansion_add=s.index_expansion_add,
        expansion_search=s.index_expansion_search,
        rescore=s.index_rescore,
    )


# --- outbound HTTP clients: each under its own bound (``common.outbound``) ------------------------
def build_sign_in(s: Settings) -> SignIn:
    """Product Opener's ``auth.pl``, its verdict cache and its concurrency bound."""
    from common.adapters.product_opener import DEPENDENCY, ProductOpenerAuth
    from common.outbound import Outbound

    return ProductOpenerAuth(
        s.off_auth_url,
        ttl_s=s.auth_cache_ttl_s,
        negative_ttl_s=s.auth_negative_ttl_s,
        timeout_s=s.auth_timeout_s,
        outbound=Outbound(DEPENDENCY, s.auth_concurrency, failure_ttl_s=s.auth_failure_ttl_s),
    )


def build_remote_images(s: Settings) -> RemoteImages:
    """The crop route's image fetcher under the crop settings' policy (``LOGO_ANN_CROP_*``)."""
    from common.adapters.http_images import FetchPolicy, HttpImages, public_or_within

    return HttpImages(
        FetchPolicy(
            s.crop_host_set,
            max_bytes=s.max_image_bytes,
            timeout_s=s.crop_fetch_timeout_s,
            ports=s.crop_port_set,
            address_allowed=public_or_within(s.crop_network_list),
        )
    )


def build_taxonomy_source(s: Settings) -> TaxonomySource:
    from common.adapters.taxonomy_files import TaxonomyFiles

    return TaxonomyFiles(timeout_s=s.taxonomy_timeout_s)


# --- the operator commands' adapters (``logo-ann import``, ``backfill``, ``dead-letters``) ------
def build_robotoff_source(database_url: str | None, jsonl: Path | None) -> ImportSource:
    """A Robotoff database (``database_url``), else the JSONL file of its ``export-logos``."""
    if database_url:
        from common.adapters.robotoff_db import RobotoffDatabase

        return RobotoffDatabase(database_url)
    if jsonl is None:
        raise ValueError("a Robotoff import reads a database URL or a JSONL file")
    from common.adapters.robotoff_jsonl import RobotoffJsonl

    return RobotoffJsonl(jsonl)


def build_backfill_sink(s: Settings, mode: str, detect: Callable[[StoredObject], DetectResult]) -> BackfillSink:
    """``mode`` pubsub (or auto with ``LOGO_ANN_QUEUE=pubsub``): the backfill topic; else ``detect`` here."""
    from common.adapters.backfill_sinks import InProcessDetect, PubSubBackfill

    if mode == "pubsub" or (mode == "auto" and s.queue == "pubsub"):
        return PubSubBackfill(s.pubsub_project, s.backfill_topic)
    return InProcessDetect(detect)


def build_dead_letters(s: Settings) -> PubSubDeadLetters:
    from common.adapters.pubsub_dead_letters import PubSubDeadLetters

    return PubSubDeadLetters(s.pubsub_project)


def build_publisher(s: Settings, topic: str) -> PubSubPublisher:
    from common.adapters.pubsub_publisher import PubSubPublisher

    return PubSubPublisher(s.pubsub_project, topic)
