"""What each cloud function reads, receives, needs and ships: the one description of the wiring.

``FUNCTION_SETTINGS`` lists, per function, the ``Settings`` fields it reads in the cloud;
``REQUIRED_SETTINGS`` the subset the deployment must always set (adapter choices and connection
settings); ``RECEIVED_SETTINGS`` what each function is given (the rest keep their defaults);
``CLOUD_ADAPTERS`` the adapter each choice takes in the cloud; ``SECRET_SETTINGS`` the fields that
only ever travel through Secret Manager; ``DEPLOYMENTS`` and ``QUEUES`` how each function is
reached. ``wiring()`` renders all of it as the JSON Terraform deploys from
(``infra/terraform/modules/logo_ann/wiring.json``, ``python -m common.deploy`` writes it) and
the local stack builds each function's environment from. ``requirements_for`` builds a
function's ``requirements.txt`` from the pinned dependencies of ``pyproject.toml``.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.settings import env_name

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
    # search publishes re-votes past revote_inline_max to the crops queue (embed_index runs them)
    "search": _S3 | _IMAGES | _TRITON | _DETECTOR | _EMBEDDER | _ES | _ES_SEARCH | _DB | _API | _QUEUE,
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
REQUIRED_SETTINGS["search"] |= {"api_token", "pubsub_project", "crops_topic"}

# What each function is given in the cloud: its required settings plus the deployment's own
# choices (model names, index name, pool size, delivery attempts). A received setting is a
# secret (SECRET_SETTINGS), a fixed adapter choice (CLOUD_ADAPTERS), or a value the deployment
# supplies under the setting's name (a bucket, an address, a size).
RECEIVED_SETTINGS: dict[str, frozenset[str]] = {
    "detect": REQUIRED_SETTINGS["detect"] | {"detector_triton_name", "es_index", "db_pool_size"},
    "embed_index": REQUIRED_SETTINGS["embed_index"]
    | {"embedder_triton_name", "es_index", "db_pool_size", "max_attempts"},
    "search": REQUIRED_SETTINGS["search"]
    | {"detector_triton_name", "embedder_triton_name", "es_index", "db_pool_size"},
}
# Credentials each function holds on its own (one HMAC key pair per function account).
PER_FUNCTION_SECRETS = frozenset({"s3_access_key_id", "s3_secret_access_key"})

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
STORAGE_DELETED = "google.cloud.storage.object.v1.deleted"
RETRY = {"retry_policy": "RETRY_POLICY_RETRY"}
# Each deployment: the function it runs and what reaches it. A Cloud Run function takes one
# trigger, so deletions reach detect through a second deployment of the same code.
DEPLOYMENTS: dict[str, dict[str, Any]] = {
    "detect": {"function": "detect", "trigger": {"kind": "storage", "event_type": STORAGE_FINALIZED, **RETRY}},
    "detect_deleted": {"function": "detect", "trigger": {"kind": "storage", "event_type": STORAGE_DELETED, **RETRY}},
    "embed_index": {"function": "embed_index", "trigger": {"kind": "push", "queue": "crops"}},
    "search": {"function": "search", "trigger": {"kind": "http", "public": True}},
}
# The Pub/Sub topics pushed to a function. The acknowledgement deadline covers the receiver's
# longest run (Pub/Sub's maximum, 600 s); messages past their deliveries go to a dead-letter topic.
QUEUES: dict[str, dict[str, Any]] = {
    "crops": {"setting": "crops_topic", "push_to": "embed_index", "ack_deadline_s": 600},
    "backfill": {"setting": "backfill_topic", "push_to": "detect", "ack_deadline_s": 600},
}
WIRING_JSON = Path(__file__).resolve().parent.parent / "infra" / "terraform" / "modules" / "logo_ann" / "wiring.json"


def _function_wiring(function: str) -> dict[str, Any]:
    received = RECEIVED_SETTINGS[function]
    secrets = received & SECRET_SETTINGS
    fixed = received & CLOUD_ADAPTERS.keys()
    return {
        "entry_point": function,
        "environment": {env_name(f): CLOUD_ADAPTERS[f] for f in sorted(fixed)},
        "deployed": {env_name(f): f for f in sorted(received - secrets - fixed)},
        "secrets": {env_name(f): f"{f}-{function}" if f in PER_FUNCTION_SECRETS else f for f in sorted(secrets)},
        "publishes": sorted(q for q, spec in QUEUES.items() if spec["setting"] in received),
    }


def wiring() -> dict[str, Any]:
    """What each function receives and how it is reached, as Terraform and the stack read it:
    ``environment`` holds fixed values, ``deployed`` names the value the deployment supplies for
    each variable, ``secrets`` the Secret Manager secret behind each secret variable."""
    return {
        "functions": {name: _function_wiring(name) for name in FUNCTIONS},
        "deployments": DEPLOYMENTS,
        "queues": QUEUES,
    }


def render_wiring() -> str:
    return json.dumps(wiring(), indent=2, sort_keys=True) + "\n"


# Distributions each function imports in the cloud. The functions talk to Triton and
# Elasticsearch, so onnxruntime and usearch (in-process models and the embedded index, imported
# only by their adapters) stay out, as do the CLI's progress bars; detect and search publish to
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
    "cachetools",  # common.outbound: the bounds on calls made inside a request
)
FUNCTION_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "detect": (*_BASE_DISTRIBUTIONS, "google-cloud-pubsub"),
    "embed_index": _BASE_DISTRIBUTIONS,
    "search": (*_BASE_DISTRIBUTIONS, "google-cloud-pubsub", "flask", "orjson"),
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


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else str(WIRING_JSON)
    Path(out).write_text(render_wiring())
