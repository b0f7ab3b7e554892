"""What each cloud function reads, needs and ships: the contract the Terraform tests check.

``FUNCTION_SETTINGS`` lists, per function, the ``Settings`` fields it reads in the cloud;
``REQUIRED_SETTINGS`` the subset the deployment must always set (adapter choices and connection
settings); ``CLOUD_ADAPTERS`` the adapter each choice takes in the cloud; ``SECRET_SETTINGS`` the
fields that only ever travel through Secret Manager. ``requirements_for`` builds a function's
``requirements.txt`` from the pinned dependencies of ``pyproject.toml``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from common.errors import ConfigError

FUNCTIONS: tuple[str, ...] = ("detect", "embed_index", "search")

SECRET_SETTINGS = frozenset({"database_url", "s3_access_key_id", "s3_secret_access_key", "es_api_key", "api_token"})

CLOUD_ADAPTERS: dict[str, str] = {
    "image_store": "s3",
    "queue": "pubsub",
    "pipeline": "platform",
    "model_runtime": "triton",
    "index": "elasticsearch",
    "store": "postgres",
}

_S3 = frozenset({"image_store", "bucket", "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key"})
_IMAGES = frozenset({"max_image_bytes", "max_image_pixels"})
_TRITON = frozenset({"model_runtime", "triton_url", "triton_timeout_s"})
_DETECTOR = frozenset({"detector_triton_name", "detector_classes", "score_threshold", "nms_iou", "max_logos_per_image"})
_EMBEDDER = frozenset({"embedder_triton_name", "embed_batch_size", "crop_recipe"})
_ES = frozenset({"index", "es_url", "es_api_key", "es_index", "es_timeout_s"})
_ES_SEARCH = frozenset({"es_num_candidates_min", "es_num_candidates_factor"})
_ES_WRITE = _ES_SEARCH | {"es_index_type", "es_m", "es_ef_construction"}
_DB = frozenset({"store", "database_url", "db_pool_size"})

_QUEUE = frozenset({"queue", "pubsub_project", "crops_topic"})
_NEIGHBOURS = frozenset({"neighbours_k", "neighbours_update_candidates"})
_DELIVERY = frozenset({"max_attempts"})
_API = frozenset({"api_token", "max_body_bytes", "neighbours_k", "pipeline"})

FUNCTION_SETTINGS: dict[str, frozenset[str]] = {
    "detect": _S3 | _IMAGES | _TRITON | _DETECTOR | _ES | _DB | _QUEUE | _DELIVERY,
    "embed_index": _S3 | _IMAGES | _TRITON | _EMBEDDER | _ES | _ES_WRITE | _DB | _NEIGHBOURS | _DELIVERY,
    "search": _S3 | _IMAGES | _TRITON | _DETECTOR | _EMBEDDER | _ES | _ES_SEARCH | _DB | _API,
}

_CONNECTIONS = frozenset(
    {
        "bucket",
        "s3_endpoint_url",
        "s3_access_key_id",
        "s3_secret_access_key",
        "triton_url",
        "es_url",
        "es_api_key",
        "database_url",
    }
)

REQUIRED_SETTINGS: dict[str, frozenset[str]] = {
    name: (_CONNECTIONS | CLOUD_ADAPTERS.keys()) & fields for name, fields in FUNCTION_SETTINGS.items()
}
REQUIRED_SETTINGS["detect"] |= {"pubsub_project", "crops_topic"}
REQUIRED_SETTINGS["search"] |= {"api_token"}

# Distributions each function imports in the cloud. The functions talk to Triton and
# Elasticsearch, so onnxruntime and usearch (in-process models and the embedded index, imported
# only by their adapters) stay out, as do the CLI's progress bars; only detect publishes to
# Pub/Sub. tests/infra/test_build_sources.py imports each function's cloud wiring with
# everything else blocked.
_BASE_DISTRIBUTIONS = (
    "functions-framework",
    "cloudevents",
    "numpy",
    "pillow",
    "boto3",
    "pg8000",
    "elasticsearch",
    "tritonclient",
)
FUNCTION_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "detect": (*_BASE_DISTRIBUTIONS, "google-cloud-pubsub"),
    "embed_index": _BASE_DISTRIBUTIONS,
    "search": (*_BASE_DISTRIBUTIONS, "flask", "orjson"),
}

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_for(function: str, pyproject: Path | None = None) -> list[str]:
    """The ``requirements.txt`` lines of ``function``: its distributions, pinned as in pyproject."""
    if function not in FUNCTION_DISTRIBUTIONS:
        raise ConfigError(f"unknown function {function!r}: expected one of {', '.join(FUNCTIONS)}")
    path = pyproject or Path(__file__).resolve().parent.parent / "pyproject.toml"
    with path.open("rb") as handle:
        declared = tomllib.load(handle)["project"]["dependencies"]
    by_name: dict[str, str] = {}
    for spec in declared:
        match = _NAME.match(spec)
        if match:
            by_name[_normalise(match.group(1))] = spec.strip()
    missing = [name for name in FUNCTION_DISTRIBUTIONS[function] if _normalise(name) not in by_name]
    if missing:
        raise ConfigError(f"{path}: no pinned dependency for {', '.join(missing)} (needed by {function})")
    return [by_name[_normalise(name)] for name in FUNCTION_DISTRIBUTIONS[function]]
