"""How the local stack's functions are configured, started and connected (``stack/core.py``)."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from common import deploy
from common.settings import Settings
from stack import services
from stack.backing import argv, function_launch, link_log, spawned
from stack.parts import REPO, Launch, Managed, create_push_subscription, terminate
from stack.services import HOST, ServiceError

PROJECT = "logo-ann-local"
TOPIC = "logo-crops"
BACKFILL_TOPIC = "logo-backfill"  # `logo-ann backfill --mode pubsub`, pushed to detect
FUNCTIONS = {"detect": "cloudevent", "embed_index": "cloudevent", "search": "http"}
ACCESS_KEY = SECRET_KEY = "stack"  # SeaweedFS without identities accepts any credentials
REGION = "us-east-1"
# Requests each function instance serves at once (functions-framework's THREADS), as Cloud Run
# functions do with concurrency > 1: adapters must be safe to share across threads.
FUNCTION_THREADS = 4
# What the stack gives every function beyond the cloud's wiring (common/deploy.py): its own home
# folder and SeaweedFS's region (the cloud's S3 endpoint takes the default). Everything else a
# function runs with is the wiring's; a test's overrides (``STACK_OVERRIDES``) come last.
STACK_LOCAL = ("LOGO_ANN_HOME", "LOGO_ANN_S3_REGION")


def start_models(root: Path, models_dir: Path) -> tuple[Managed, dict[str, str]]:
    """Stand-in ONNX models (where real ones are absent) served by a real Triton."""
    from offline.models.fetch import ensure_standins
    from stack.triton_fixture import start_triton

    models_dir = Path(models_dir).resolve()
    ensure_standins(models_dir)
    detector, embedder = models_dir / "detector.onnx", models_dir / "embedder.onnx"
    # PyTriton's IPC sockets live in the workspace and a socket path is limited to 107 bytes
    workdir = Path(tempfile.mkdtemp(prefix="lat-"))
    try:
        server = start_triton(workdir, detector=detector, embedder=embedder, timeout=120)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    port = server.url.rsplit(":", 1)[1]
    log_path = workdir / f"triton-{port}.log"
    link_log(root / "logs" / "triton.log", log_path)
    return Managed.from_popen(server.proc, f"--http-port {port}", log_path, _triton_launch(server, log_path)), {
        "TRITON_URL": server.url,
        "MODELS_DIR": str(models_dir),
        "TRITON_WORKDIR": str(workdir),
    }


def _triton_launch(server: Any, log_path: Path) -> Launch:
    """Triton again on the same ports and workspace, ready once both models are."""
    from stack.triton_fixture import DETECTOR_NAME, EMBEDDER_NAME, TRITON_PYTHON, _environment

    base = f"http://{server.url}/v2"
    urls = [f"{base}/health/ready"] + [f"{base}/models/{name}/ready" for name in (DETECTOR_NAME, EMBEDDER_NAME)]
    ready = functools.partial(_all_ready, urls)
    return Launch(argv(server.proc), log_path, REPO, _environment(TRITON_PYTHON), ready, 120.0)


def _all_ready(urls: list[str]) -> bool:
    return all(services.http_status(url) == 200 for url in urls)


def function_env(found: Mapping[str, str], root: Path, bucket: str, ports: Mapping[str, int],
                 overrides: Mapping[str, str]) -> dict[str, str]:  # fmt: skip
    """The stack's addresses, then every ``LOGO_ANN_*`` setting the functions run with."""
    url = {name: f"http://{HOST}:{ports[name]}" for name in (*FUNCTIONS, "bridge")}
    models = Path(found["MODELS_DIR"])
    env = {
        "S3_ENDPOINT_URL": found["S3_ENDPOINT_URL"],
        "BUCKET": bucket,
        "SEARCH_URL": url["search"],
        "DETECT_URL": url["detect"],
        "EMBED_INDEX_URL": url["embed_index"],
        "BRIDGE_URL": url["bridge"],
        "PUBSUB_EMULATOR_HOST": found["PUBSUB_EMULATOR_HOST"],
        "PUBSUB_PROJECT": PROJECT,
        "TRITON_URL": found["TRITON_URL"],
        "ES_URL": found["ES_URL"],
        "DATABASE_URL": found["DATABASE_URL"],
        "MODELS_DIR": str(models),
        "LOGO_ANN_HOME": str(root / "home"),
        "LOGO_ANN_IMAGE_STORE": "s3",
        "LOGO_ANN_BUCKET": bucket,
        "LOGO_ANN_S3_ENDPOINT_URL": found["S3_ENDPOINT_URL"],
        "LOGO_ANN_S3_REGION": REGION,
        "LOGO_ANN_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "LOGO_ANN_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "LOGO_ANN_QUEUE": "pubsub",
        "LOGO_ANN_PIPELINE": "platform",  # as in the cloud: uploads through search are only stored
        "LOGO_ANN_PUBSUB_PROJECT": PROJECT,
        "LOGO_ANN_CROPS_TOPIC": TOPIC,
        "LOGO_ANN_BACKFILL_TOPIC": BACKFILL_TOPIC,
        "LOGO_ANN_MODEL_RUNTIME": "triton",
        "LOGO_ANN_TRITON_URL": found["TRITON_URL"],
        "LOGO_ANN_DETECTOR_MODEL": str(models / "detector.onnx"),
        "LOGO_ANN_EMBEDDER_MODEL": str(models / "embedder.onnx"),
        "LOGO_ANN_INDEX": "elasticsearch",
        "LOGO_ANN_ES_URL": found["ES_URL"],
        "LOGO_ANN_ES_API_KEY": "",  # the stack's node runs without security
        "LOGO_ANN_ES_INDEX": Settings.es_index,
        "LOGO_ANN_DETECTOR_TRITON_NAME": Settings.detector_triton_name,  # the models Triton serves
        "LOGO_ANN_EMBEDDER_TRITON_NAME": Settings.embedder_triton_name,
        "LOGO_ANN_STORE": "postgres",
        "LOGO_ANN_DATABASE_URL": found["DATABASE_URL"],
        "LOGO_ANN_DB_POOL_SIZE": "2",
        "LOGO_ANN_MAX_ATTEMPTS": str(Settings.max_attempts),
        "LOGO_ANN_API_TOKEN": "",  # writes through search are refused unless a test sets one
    }
    env.update(overrides)
    env["STACK_OVERRIDES"] = ",".join(sorted(k for k in overrides if k.startswith("LOGO_ANN_")))
    return env


def wired_env(function: str, env: Mapping[str, str]) -> dict[str, str]:
    """The ``LOGO_ANN_*`` variables ``function`` runs with: what ``common/deploy.py`` wires it with
    in the cloud (the fixed values as they are; the stack's own value for each setting the
    deployment supplies and each secret), the stack's local folders, then the test's overrides."""
    wiring = deploy.wiring()["functions"][function]
    supplied = [*wiring["deployed"], *wiring["secrets"], *STACK_LOCAL]
    missing = [name for name in supplied if name not in env]
    if missing:
        raise ServiceError(f"the stack has no value for {', '.join(missing)}, which {function} is wired with")
    own = {**wiring["environment"], **{name: env[name] for name in supplied}}
    overrides = [name for name in env.get("STACK_OVERRIDES", "").split(",") if name]
    return {**own, **{name: env[name] for name in overrides}}


def process_env(env: Mapping[str, str], function: str | None = None) -> dict[str, str]:
    """This process's environment without inherited ``LOGO_ANN_*``, plus the stack's settings:
    all of them, or what ``function`` is wired with."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LOGO_ANN_")}
    own = wired_env(function, env) if function else {k: v for k, v in env.items() if k.startswith("LOGO_ANN_")}
    extra = {"PUBSUB_EMULATOR_HOST": env["PUBSUB_EMULATOR_HOST"], "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return {**inherited, **own, **extra}


def start_functions(env: Mapping[str, str], logs: Path, ports: Mapping[str, int], bucket: str) -> dict[str, Managed]:
    """The three functions under functions-framework and the storage bridge; waits until each answers."""
    framework = str(Path(sys.executable).parent / "functions-framework")
    child_env = process_env(env)
    started: dict[str, Managed] = {}
    for name, signature in FUNCTIONS.items():
        source = str(REPO / "functions" / name / "main.py")
        command = [framework, "--target", name, "--signature-type", signature, "--source", source,
                   "--host", HOST, "--port", str(ports[name])]  # fmt: skip
        framework_env = {**process_env(env, name), "THREADS": str(FUNCTION_THREADS)}
        launch = function_launch(command, logs / f"{name}.log", framework_env, f"http://{HOST}:{ports[name]}/")
        started[name] = spawned(launch, f"--port {ports[name]}")
    bridge = [sys.executable, "-m", "stack.storage_events", "--host", HOST, "--port", str(ports["bridge"]),
              "--detect-url", env["DETECT_URL"] + "/", "--s3-endpoint", env["S3_ENDPOINT_URL"],
              "--bucket", bucket]  # fmt: skip
    launch = function_launch(bridge, logs / "bridge.log", child_env, f"http://{HOST}:{ports['bridge']}/health")
    started["bridge"] = spawned(launch, f"--port {ports['bridge']}")
    try:
        for proc in started.values():
            if proc.recipe is not None and proc.recipe.ready is not None:
                services.wait_ready(proc.recipe.ready, proc.popen, proc.log, 60)
    except BaseException:
        terminate(list(started.values()))
        raise
    return started


def create_subscriptions(env: Mapping[str, str]) -> None:
    """The crops topic pushed to ``embed_index``; the backfill topic pushed to ``detect`` (its ack
    deadline as in ``infra/terraform/modules/logo_ann/backfill.tf``)."""
    host = env["PUBSUB_EMULATOR_HOST"]
    create_push_subscription(host, PROJECT, TOPIC, env["EMBED_INDEX_URL"] + "/")
    create_push_subscription(host, PROJECT, BACKFILL_TOPIC, env["DETECT_URL"] + "/", "detect", ack_deadline_s=600)


def setup_cloud(env: Mapping[str, str], bucket: str) -> None:
    """The bucket, the topics and push subscriptions; then one search request to warm the clients."""
    create_subscriptions(env)
    try:
        s3_client(env["S3_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise ServiceError(f"cannot create bucket {bucket}: {exc}") from exc
    health = env["SEARCH_URL"] + "/health"
    status = _status(health, timeout=90)  # the first call connects the database and the index
    if status != 200:
        raise ServiceError(f"{health} answered {status}: see the search function's log")


def _status(url: str, timeout: float) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the stack's SeaweedFS (any credentials; path-style addressing)."""
    config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                    response_checksum_validation="when_required")  # fmt: skip
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=config)  # fmt: skip
