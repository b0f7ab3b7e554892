"""The cloud backfill path and dead letters on Google's Pub/Sub emulator.

``logo-ann backfill --mode pubsub`` publishes each existing object to the backfill topic; a push
subscription delivers it to the real ``detect`` function under functions-framework (here over
the embedded store and bucket, so the test can look inside). A message whose delivery keeps
failing (detect's database does not exist yet) reaches the dead-letter topic after the maximum
delivery attempts; ``logo-ann dead-letters list`` shows it, the fault is fixed (the database is
created), ``logo-ann dead-letters replay`` sends it again and it is processed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.adapters.backfill_sinks import PubSubBackfill
from common.adapters.postgres_store import PostgresStore
from common.domain import StoredObject
from common.ports.metadata_store import INDEXED
from stack import pg, services
from stack.waiting import wait_until
from tests.reliability.embedded import embedded_container
from tests.reliability.test_reconcile import picture

pytestmark = pytest.mark.integration
PROJECT = "logo-ann-backfill"
BUCKET = "existing"
CLI = [sys.executable, "-m", "common.cli"]
FRAMEWORK = str(Path(sys.executable).parent / "functions-framework")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if services.pubsub_emulator_binary() is None:
        pytest.skip("the Pub/Sub emulator is missing (package google-cloud-cli-pubsub-emulator)")
    proc, host = services.start_pubsub_emulator(tmp_path_factory.mktemp("pubsub"))
    try:
        yield host
    finally:
        services.stop(proc)


def _rest(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def topics(emulator: str, topic: str, push_to: str | None) -> dict[str, str]:
    """The topic, its dead-letter topic and pull subscription, and a push subscription to ``push_to``."""
    base = f"http://{emulator}/v1/projects/{PROJECT}"
    dead = f"{topic}-dead-letter"
    for name in (topic, dead):
        _rest("PUT", f"{base}/topics/{name}")
    _rest("PUT", f"{base}/subscriptions/{dead}", {"topic": f"projects/{PROJECT}/topics/{dead}"})
    if push_to:
        _rest(
            "PUT",
            f"{base}/subscriptions/{topic}-detect",
            {
                "topic": f"projects/{PROJECT}/topics/{topic}",
                "pushConfig": {"pushEndpoint": push_to},
                "ackDeadlineSeconds": 60,
                "retryPolicy": {"minimumBackoff": "0s", "maximumBackoff": "1s"},
                "deadLetterPolicy": {"deadLetterTopic": f"projects/{PROJECT}/topics/{dead}", "maxDeliveryAttempts": 5},
            },
        )
    return {"topic": topic, "dead_letter_subscription": dead}


def start_detect(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = services.free_port()
    command = [
        FRAMEWORK,
        "--target",
        "detect",
        "--signature-type",
        "cloudevent",
        "--source",
        str(REPO / "functions" / "detect" / "main.py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = tmp_path / f"detect-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/"
    services.wait_ready(lambda: services.http_status(url) is not None, proc, log, 60)
    return proc, url


def cli(env: dict[str, str], *args: str) -> list[Any]:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_until(check, timeout, interval=0.5, message=f"waiting for {what}")


def _env(home: Path, emulator: str, **settings: str) -> dict[str, str]:
    c = embedded_container(home)  # builds the stand-in models under home/models
    return dict(
        os.environ,
        PUBSUB_EMULATOR_HOST=emulator,
        LOGO_ANN_HOME=str(home),
        LOGO_ANN_DETECTOR_MODEL=c.settings.detector_model,
        LOGO_ANN_EMBEDDER_MODEL=c.settings.embedder_model,
        LOGO_ANN_PUBSUB_PROJECT=PROJECT,
        **settings,
    )


def test_backfill_through_the_topic_processes_every_object_once(emulator: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home, emulator)
    c = embedded_container(home)
    for i in range(5):
        c.images.put(BUCKET, f"photos/p{i}.png", picture(400 + i))
    c.images.put(BUCKET, "photos/broken.png", b"GIF89a but not really")
    proc, url = start_detect(tmp_path, env)
    try:
        names = topics(emulator, f"backfill-{uuid.uuid4().hex[:8]}", url)
        env.update(LOGO_ANN_BACKFILL_TOPIC=names["topic"])
        (report,) = cli(env, "backfill", "--bucket", BUCKET, "--prefix", "photos/", "--mode", "pubsub", "--rate", "50")
        assert (report["mode"], report["processed"], report["skipped_as_done"]) == ("pubsub", 6, 0)

        db = home / "logo-ann.sqlite3"

        def final() -> list[tuple[Any, ...]]:
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT name, status, error FROM image ORDER BY name").fetchall()
            return rows if len(rows) == 6 and all(r[1] in (INDEXED, "failed") for r in rows) else []

        rows = wait_for(final, 120, "detect to process every pushed object")
        by_name = {name: (status, error) for name, status, error in rows}
        assert by_name["photos/broken.png"][0] == "failed" and by_name["photos/broken.png"][1]
        assert all(by_name[f"photos/p{i}.png"] == (INDEXED, None) for i in range(5))
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*), count(DISTINCT image_id) FROM logo").fetchone() == (5, 5)
            assert conn.execute("SELECT count(*) FROM embedding").fetchone() == (5,)

        (again,) = cli(env, "backfill", "--bucket", BUCKET, "--prefix", "photos/", "--mode", "pubsub", "--restart")
        assert again["this_run"]["skipped_as_done"] == 6 and again["this_run"]["processed"] == 0
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM image").fetchone() == (6,)
    finally:
        services.stop(proc)


def test_dead_lettered_backfill_message_is_listed_then_replayed_once_fixed(
    emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = pg.skip_unless_reachable()
    database = f"backfill_dl_{uuid.uuid4().hex[:10]}"  # not created yet: detect fails until it is
    url = pg.ADMIN_URL.split("?")[0].rsplit("/", 1)[0] + f"/{database}"
    home = tmp_path / "home"
    env = _env(home, emulator, LOGO_ANN_STORE="postgres", LOGO_ANN_DATABASE_URL=url)
    ref = embedded_container(home).images.put(BUCKET, "photos/late.png", picture(500))
    proc, push_url = start_detect(tmp_path, env)
    try:
        names = topics(emulator, f"backfill-{uuid.uuid4().hex[:8]}", push_url)
        cli_env = dict(
            env,
            LOGO_ANN_STORE="sqlite",
            LOGO_ANN_BACKFILL_TOPIC=names["topic"],
            LOGO_ANN_BACKFILL_DEAD_LETTER_SUBSCRIPTION=names["dead_letter_subscription"],
        )
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator)
        sink = PubSubBackfill(PROJECT, names["topic"], timeout=15)
        try:
            assert sink.send(StoredObject(ref, 100)) is None
        finally:
            sink.close()

        (letter,) = wait_for(
            lambda: cli(cli_env, "dead-letters", "list", "--which", "backfill"),
            120,
            "the message to reach the dead-letter topic",
        )
        assert letter["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
        assert json.loads(letter["data"])["name"] == "photos/late.png"
        assert cli(cli_env, "dead-letters", "list", "--which", "backfill") == [letter]  # listing keeps it

        admin.cursor().execute(f'CREATE DATABASE "{database}"')  # the fault is fixed
        (replayed,) = cli(cli_env, "dead-letters", "replay", "--which", "backfill")
        assert replayed["replayed"] == 1 and replayed["message_ids"] == [letter["message_id"]]

        def indexed() -> Any:
            store = PostgresStore(url)
            try:
                images = store.find_images(BUCKET, "photos/late.png")
                return images if images and images[0].status == INDEXED else None
            finally:
                store.close()

        (image,) = wait_for(indexed, 120, "the replayed message to be processed")
        assert image.ref == ref
        assert cli(cli_env, "dead-letters", "list", "--which", "backfill") == []
    finally:
        services.stop(proc)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def test_crops_dead_letters_replay_to_the_crops_topic(
    emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import pubsub_v1

    names = topics(emulator, f"crops-{uuid.uuid4().hex[:8]}", None)
    base = f"http://{emulator}/v1/projects/{PROJECT}"
    _rest(
        "PUT", f"{base}/subscriptions/{names['topic']}-pull", {"topic": f"projects/{PROJECT}/topics/{names['topic']}"}
    )
    body = {
        "messages": [
            {
                "data": "eyJpbWFnZV9pZCI6IDd9",
                "attributes": {"image_id": "7", "CloudPubSubDeadLetterSourceDeliveryCount": "5"},
            }
        ]
    }
    _rest("POST", f"{base}/topics/{names['topic']}-dead-letter:publish", body)
    env = dict(
        os.environ,
        PUBSUB_EMULATOR_HOST=emulator,
        LOGO_ANN_HOME=str(tmp_path / "home"),
        LOGO_ANN_PUBSUB_PROJECT=PROJECT,
        LOGO_ANN_CROPS_TOPIC=names["topic"],
        LOGO_ANN_CROPS_DEAD_LETTER_SUBSCRIPTION=names["dead_letter_subscription"],
    )

    (held,) = cli(env, "dead-letters", "list", "--which", "crops")
    (replayed,) = cli(env, "dead-letters", "replay", "--which", "crops")

    assert held["data"] == '{"image_id": 7}' and replayed["replayed"] == 1
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator)
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(PROJECT, f"{names['topic']}-pull")
    response = subscriber.pull(subscription=path, max_messages=5, timeout=10)
    subscriber.close()
    (message,) = [item.message for item in response.received_messages]
    assert message.data == b'{"image_id": 7}'
    assert dict(message.attributes) == {"image_id": "7", "replayed_from": held["message_id"]}
    assert cli(env, "dead-letters", "list", "--which", "crops") == []
