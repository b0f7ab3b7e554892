"""One typed settings object, read from ``LOGO_ANN_*`` environment variables.

Every field is documented by its default and validated at start-up: a bad value raises
``ConfigError`` naming the variable, so a misconfigured function fails on its first request
with a readable message instead of deep inside a use case.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.errors import ConfigError

PREFIX = "LOGO_ANN_"

CHOICES: dict[str, tuple[str, ...]] = {
    "image_store": ("local", "s3"),
    "queue": ("inprocess", "pubsub"),
    "pipeline": ("inprocess", "platform"),
    "model_runtime": ("onnx", "triton"),
    "index": ("packed", "usearch", "elasticsearch"),
    "store": ("sqlite", "postgres"),
    "index_dtype": ("f32", "f16", "i8"),
    "crop_recipe": ("robotoff-v1",),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    # where the embedded default keeps its data (bucket folder, SQLite file, index files)
    home: Path = Path(".logo-ann")
    # adapters
    image_store: str = "local"
    queue: str = "inprocess"
    # who runs detect and embed_index on a stored upload: this process ("inprocess", embedded),
    # or the platform's storage events ("platform", the cloud: the API only stores and answers 202)
    pipeline: str = "inprocess"
    model_runtime: str = "onnx"
    index: str = "packed"  # embedded: "packed" (the project's HNSW over int8 codes) or "usearch"
    store: str = "sqlite"
    # object storage (S3 API: GCS interoperability, AWS S3, SeaweedFS, MinIO, R2)
    bucket: str = "uploads"
    s3_endpoint_url: str = ""
    s3_region: str = "auto"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # crops queue (Pub/Sub)
    pubsub_project: str = "logo-ann-local"
    crops_topic: str = "logo-crops"
    crops_dead_letter_subscription: str = "logo-crops-dead-letter"  # pull subscription on the dead-letter topic
    # backfill of existing objects (cloud): a topic pushed to detect, and its dead letters
    backfill_topic: str = "logo-backfill"
    backfill_dead_letter_subscription: str = "logo-backfill-dead-letter"
    # models: ONNX files (onnx runtime) or Triton model names (triton runtime)
    detector_model: str = "models/detector.onnx"
    embedder_model: str = "models/embedder.onnx"
    detector_triton_name: str = "universal_logo_detector_yolo"
    embedder_triton_name: str = "clip"
    triton_url: str = "127.0.0.1:8000"
    triton_timeout_s: float = 30.0
    detector_classes: str = ""  # comma-separated; empty: from model metadata, else "object"
    score_threshold: float = 0.25
    nms_iou: float = 0.7
    max_logos_per_image: int = 100
    embed_batch_size: int = 32
    crop_recipe: str = "robotoff-v1"
    # images; object names under this prefix that follow Open Food Facts' layout get its identity
    off_image_prefix: str = ""  # e.g. "data/", as in the public openfoodfacts-images bucket
    max_image_bytes: int = 30_000_000
    max_image_pixels: int = 60_000_000
    # crops by URL (Robotoff's /images/crop): hosts whose /images/products paths name stored
    # images and from which other images may be fetched (https only), and the decoded-image cache
    crop_hosts: str = "images.openfoodfacts.org"  # comma-separated
    crop_fetch: bool = True
    crop_fetch_timeout_s: float = 10.0
    crop_cache_bytes: int = 256_000_000
    crop_jpeg_cache_bytes: int = 64_000_000  # crops of stored photos (~10 KB each): thousands of them
    # photo decodes for crops on threads this much nicer than the server's (common.pipeline.low_priority):
    # under Hunger Games' mix they took the cores from searches; at 10 (4 threads) the search's p99 fell
    # to about a third and crops kept their rate; 5 did half as much, 2 threads starved the crops
    crop_decode_threads: int = 4
    crop_decode_niceness: int = 10
    crop_fetch_ports: str = "443"  # comma-separated ports an image URL may name
    # private networks (CIDR, comma-separated) an image host may resolve to besides public addresses,
    # for a mirror inside one's own network (and the tests); empty: public addresses only
    crop_fetch_networks: str = ""
    # Outbound calls inside a request (common.outbound). Each dependency gets a bound of its own: a
    # request beyond it is answered 503 + Retry-After at once rather than waiting, so a slow or
    # flooded dependency holds at most that many of the server's threads and the others stay with
    # every other route. Misses and failures are remembered briefly, so the same dead URL or bad
    # credentials are not retried by every request.
    # `logo-ann serve`'s request threads (waitress). 16, not 8: under Hunger Games' mix from 16
    # connections, searches (1 ms of work) queued behind crop decodes; 16 doubled the requests/s and
    # halved the search's p50 (bench/results/load.json, docs/security.md)
    server_threads: int = 16
    crop_fetch_concurrency: int = 4  # a quarter of the threads: one slow image host never starves the rest
    crop_miss_ttl_s: float = 60.0  # 404/410, refused or undecodable: an image rarely appears within a minute
    crop_failure_ttl_s: float = 10.0  # timeout, refused connection, 5xx: a host that failed is not retried at once
    auth_concurrency: int = 4  # sign-in checks at once; verdicts are cached, so only new callers need one
    auth_failure_ttl_s: float = 5.0  # auth.pl failed for these credentials: 503 without asking again
    taxonomy_timeout_s: float = 30.0  # one taxonomy download (labels.full.json is ~4 MB); a load at a time each
    taxonomy_failure_ttl_s: float = 30.0  # a first load that failed is not tried again by every request
    # ANN index (embedded)
    index_dtype: str = "i8"  # usearch only; the packed index always holds int8 codes
    index_connectivity: int = 16  # links per node above level 0 (bench/ANALYSIS.md: recall, memory)
    index_connectivity_base: int = 28  # packed only: level-0 links per node (usearch: 2 x connectivity)
    index_expansion_add: int = 256  # 192 builds in 0.75x the time but loses recall on near-ties at 1M (ANALYSIS)
    # packed: the build beam of a batch given its seeds (0: off). 128 built 1M in 0.69x the time but lost
    # 0.0005-0.006 recall@10 at the default search beam (bench/ANALYSIS.md, seeded builds): opt-in
    index_expansion_add_seeded: int = 0
    index_expansion_search: int = 192  # packed at 1M: recall@10 >= 0.99 on the bench's three data sets (ANALYSIS)
    index_expansion_search_at: int = 1_000_000  # packed: a larger collection widens the beam by (count / this)^growth
    # packed: the widening's exponent; 0.5 left 5M CLIP-like logos at recall@10 0.9891 (bench/ANALYSIS.md)
    index_expansion_search_growth: float = 0.67
    index_expansion_search_narrow: int = 115  # packed: this beam first (0.6x), the full one only for near-ties (0: off)
    index_near_tie_gap: float = 0.002  # packed: k-th and (k+1)-th cosines closer than this widen a narrow search
    index_rescore: bool = False  # float32 re-scoring: +0.005 recall at 1M for 2 KB/vector of cache
    es_url: str = ""
    es_api_key: str = ""
    es_index: str = "logo"
    es_index_type: str = "int8_hnsw"
    es_m: int = 16
    es_ef_construction: int = 100
    es_num_candidates_min: int = 100
    es_num_candidates_factor: float = 2.0
    es_timeout_s: float = 10.0
    # metadata store
    database_url: str = ""  # postgresql://user:password@host:port/dbname
    db_pool_size: int = 4
    # neighbours
    neighbours_k: int = 10
    neighbours_update_candidates: int = 100
    # annotations and label propagation (common.labels)
    taxonomy_labels: str = ""  # path or http(s) URL of labels.full.json; empty: the fetched file, if any
    taxonomy_brands: str = ""
    taxonomy_categories: str = ""
    taxonomy_refresh_s: float = 86_400.0
    vote_max_distance: float = 0.12  # neighbours further than this do not vote
    vote_prior_weight: float = 0.5
    target_precision: float = 0.95  # per-type thresholds chosen by `logo-ann calibrate`
    calibration_min_support: int = 10
    revote_inline_max: int = 200  # more logos to re-vote than this go through the queue
    # quests link two unannotated logos listed as neighbours closer than this (docs/annotation-at-scale.md:
    # CLIP ViT-B/32 crops of one logo sit within ~0.05 of each other, distinct look-alikes from ~0.06)
    cluster_max_distance: float = 0.05
    # delivery and security
    max_attempts: int = 5
    api_token: str = ""
    max_body_bytes: int = 20_000_000
    # Open Food Facts identities (common.adapters.product_opener): Product Opener's auth.pl and its verdict cache
    off_auth_url: str = "https://world.openfoodfacts.org/cgi/auth.pl"
    auth_cache_ttl_s: float = 300.0
    auth_negative_ttl_s: float = 10.0
    auth_timeout_s: float = 5.0
    token_user: str = "service"  # the user name recorded for changes made with the API token
    cors_origins: str = "*"  # origins whose pages may call the API with credentials: "*" any, or a comma list

    @property
    def crop_host_set(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.crop_hosts.split(",") if h.strip())

    @property
    def crop_port_set(self) -> frozenset[int]:
        return frozenset(int(p) for p in self.crop_fetch_ports.split(",") if p.strip())

    @property
    def crop_network_list(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        networks = (n.strip() for n in self.crop_fetch_networks.split(","))
        return tuple(ipaddress.ip_network(n, strict=False) for n in networks if n)

    @property
    def sqlite_path(self) -> Path:
        return self.home / "logo-ann.sqlite3"

    @property
    def local_bucket_dir(self) -> Path:
        return self.home / "buckets"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    def validate(self) -> Settings:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{env_name(name)}={value!r}: expected one of {', '.join(allowed)}")
        checks = [
            ("score_threshold", 0.0 <= self.score_threshold <= 1.0, "a number in [0, 1]"),
            ("nms_iou", 0.0 < self.nms_iou <= 1.0, "a number in (0, 1]"),
            ("max_logos_per_image", self.max_logos_per_image >= 1, "at least 1"),
            ("embed_batch_size", self.embed_batch_size >= 1, "at least 1"),
            ("neighbours_k", 1 <= self.neighbours_k <= 500, "between 1 and 500"),
            ("max_attempts", self.max_attempts >= 1, "at least 1"),
            ("vote_max_distance", 0.0 < self.vote_max_distance <= 1.0, "a number in (0, 1]"),
            ("vote_prior_weight", self.vote_prior_weight >= 0.0, "at least 0"),
            ("target_precision", 0.0 < self.target_precision <= 1.0, "a number in (0, 1]"),
            ("calibration_min_support", self.calibration_min_support >= 1, "at least 1"),
            ("revote_inline_max", self.revote_inline_max >= 0, "at least 0"),
            ("cluster_max_distance", 0.0 < self.cluster_max_distance <= 1.0, "a number in (0, 1]"),
            ("taxonomy_refresh_s", self.taxonomy_refresh_s >= 0, "at least 0"),
            ("es_num_candidates_min", 1 <= self.es_num_candidates_min <= 10_000, "in 1..10000"),
            ("off_auth_url", self.off_auth_url.startswith(("https://", "http://")), "an http(s) URL"),
            ("auth_cache_ttl_s", self.auth_cache_ttl_s >= 0, "at least 0"),
            ("auth_negative_ttl_s", self.auth_negative_ttl_s >= 0, "at least 0"),
            ("auth_timeout_s", self.auth_timeout_s > 0, "above 0"),
            ("crop_fetch_timeout_s", self.crop_fetch_timeout_s > 0, "above 0"),
            ("crop_cache_bytes", self.crop_cache_bytes >= 0, "at least 0"),
            ("crop_jpeg_cache_bytes", self.crop_jpeg_cache_bytes >= 0, "at least 0"),
            ("crop_decode_threads", self.crop_decode_threads >= 1, "at least 1"),
            ("crop_decode_niceness", 0 <= self.crop_decode_niceness <= 19, "in 0..19"),
            ("server_threads", self.server_threads >= 1, "at least 1"),
            ("crop_fetch_concurrency", self.crop_fetch_concurrency >= 1, "at least 1"),
            ("auth_concurrency", self.auth_concurrency >= 1, "at least 1"),
            ("crop_miss_ttl_s", self.crop_miss_ttl_s >= 0, "at least 0"),
            ("crop_failure_ttl_s", self.crop_failure_ttl_s >= 0, "at least 0"),
            ("auth_failure_ttl_s", self.auth_failure_ttl_s >= 0, "at least 0"),
            ("taxonomy_timeout_s", self.taxonomy_timeout_s > 0, "above 0"),
            ("taxonomy_failure_ttl_s", self.taxonomy_failure_ttl_s >= 0, "at least 0"),
            ("token_user", bool(self.token_user.strip()), "a non-empty name"),
            ("index_expansion_search_narrow", self.index_expansion_search_narrow >= 0, "at least 0 (0: off)"),
            ("index_expansion_add_seeded", self.index_expansion_add_seeded >= 0, "at least 0 (0: no seeds)"),
            ("index_near_tie_gap", 0.0 <= self.index_near_tie_gap <= 2.0, "a cosine gap in [0, 2]"),
            ("index_expansion_search_growth", 0 <= self.index_expansion_search_growth <= 2, "an exponent in [0, 2]"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{env_name(name)}={getattr(self, name)!r}: expected {expected}")
        for name, parse, expected in (
            ("crop_fetch_ports", lambda: self.crop_port_set, "comma-separated port numbers"),
            ("crop_fetch_networks", lambda: self.crop_network_list, "comma-separated networks (CIDR)"),
        ):
            try:
                parse()
            except ValueError:
                raise ConfigError(f"{env_name(name)}={getattr(self, name)!r}: expected {expected}") from None
        required = {
            "s3_endpoint_url": self.image_store == "s3" and not self.s3_endpoint_url,
            "es_url": self.index == "elasticsearch" and not self.es_url,
            "database_url": self.store == "postgres" and not self.database_url,
        }
        for name, missing in required.items():
            if missing:
                raise ConfigError(f"{env_name(name)} is required by the chosen adapters")
        return self


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _parse(field: dataclasses.Field[Any], raw: str) -> Any:
    kind = field.type if isinstance(field.type, type) else str(field.type)
    try:
        if kind in (bool, "bool"):
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError("not a boolean")
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise ConfigError(f"{env_name(field.name)}={raw!r}: expected {kind}") from exc
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build and validate settings from ``environ`` (default: the process environment)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        raw = environ.get(env_name(field.name))
        if raw is not None and raw != "":
            values[field.name] = _parse(field, raw)
    values.update(overrides)
    return Settings(**values).validate()
