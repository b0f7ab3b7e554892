"""PubSubQueue against Google's Pub/Sub emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.adapters.pubsub_queue import PubSubQueue
from common.domain import Box, ObjectRef
from common.errors import DependencyError
from common.messages import CropLogo, CropsMessage, RevoteMessage, decode_message
from stack import services

pytestmark = pytest.mark.integration

PROJECT = "logo-ann-test"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if services.pubsub_emulator_binary() is None:
        pytest.skip("the Pub/Sub emulator is missing (package google-cloud-cli-pubsub-emulator)")
    proc, host = services.start_pubsub_emulator(tmp_path_factory.mktemp("pubsub"))
    try:
        yield host
    finally:
        services.stop(proc)


@pytest.fixture
def emulator_env(emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator)
    return emulator


@pytest.fixture
def topic_and_subscription(emulator_env: str) -> tuple[str, str]:
    from google.cloud import pubsub_v1

    topic = f"crops-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.create_topic(name=publisher.topic_path(PROJECT, topic)).name
    subscription = subscriber.create_subscription(
        name=subscriber.subscription_path(PROJECT, f"{topic}-pull"), topic=topic_path
    ).name
    subscriber.close()
    return topic, subscription


def _message(image_id: int) -> CropsMessage:
    return CropsMessage(
        image_id=image_id,
        image=ObjectRef("uploads", f"products/{image_id}.jpg", "1712345678901234"),
        logos=(CropLogo(11, Box(0.1, 0.2, 0.5, 0.6)), CropLogo(12, Box(0.0, 0.0, 1.0, 1.0))),
    )


def _pull(subscription: str, expected: int) -> list:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received: list = []
    try:
        for _ in range(20):
            response = subscriber.pull(subscription=subscription, max_messages=10, timeout=10)
            received += [item.message for item in response.received_messages]
            if response.received_messages:
                subscriber.acknowledge(
                    subscription=subscription, ack_ids=[i.ack_id for i in response.received_messages]
                )
            if len(received) >= expected:
                break
    finally:
        subscriber.close()
    return received


def test_published_message_arrives_with_payload_and_attributes(topic_and_subscription: tuple[str, str]) -> None:
    topic, subscription = topic_and_subscription
    queue = PubSubQueue(PROJECT, topic, timeout=15)
    sent = [_message(101), _message(102)]

    for message in sent:
        queue.publish(message)
    queue.close()
    received = _pull(subscription, expected=2)

    decoded = sorted((CropsMessage.from_json(m.data) for m in received), key=lambda m: m.image_id)
    assert decoded == sent
    by_image = {m.attributes["image_id"]: dict(m.attributes) for m in received}
    assert by_image["101"] == {"schema_version": "1", "image_id": "101", "bucket": "uploads", "logo_count": "2"}
    assert set(by_image) == {"101", "102"}


def test_missing_topic_raises_dependency_error(emulator_env: str) -> None:
    queue = PubSubQueue(PROJECT, f"absent-{uuid.uuid4().hex[:8]}", timeout=15)

    try:
        with pytest.raises(DependencyError) as info:
            queue.publish(_message(7))
        assert info.value.dependency == "pubsub"
    finally:
        queue.close()


def test_unreachable_emulator_raises_dependency_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{services.free_port()}")
    queue = PubSubQueue(PROJECT, "crops", timeout=2)

    try:
        with pytest.raises(DependencyError, match="pubsub"):
            queue.publish(_message(8))
    finally:
        queue.close()


def test_a_revote_message_travels_beside_crops_messages(topic_and_subscription: tuple[str, str]) -> None:
    topic, subscription = topic_and_subscription
    queue = PubSubQueue(PROJECT, topic, timeout=15)
    queue.publish(RevoteMessage((5, 9, 12)))
    queue.publish(_message(103))
    queue.close()
    received = _pull(subscription, expected=2)
    decoded = [decode_message(m.data) for m in received]
    assert RevoteMessage((5, 9, 12)) in decoded and _message(103) in decoded
    (revote,) = [dict(m.attributes) for m in received if m.attributes.get("kind") == "revote"]
    assert revote == {"schema_version": "1", "kind": "revote", "logo_count": "3"}
