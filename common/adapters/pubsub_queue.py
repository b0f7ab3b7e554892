"""The work queue (crops and re-vote messages) on Google Cloud Pub/Sub (or its emulator, via ``PUBSUB_EMULATOR_HOST``).

``publish`` waits for the server's acknowledgement, so a message is durable once it returns;
any failure (unreachable, timeout, missing topic, permission) raises ``DependencyError``: the
calling event is then retried by the platform, and the idempotent handlers absorb repeats.
"""

from __future__ import annotations

import logging
from typing import Any

from common.adapters.pubsub_publisher import PubSubPublisher
from common.messages import QueueMessage

log = logging.getLogger(__name__)


class PubSubQueue:
    """``WorkQueue`` publishing JSON messages with routing attributes to one topic (through the
    one ``PubSubPublisher``)."""

    def __init__(self, project: str, topic: str, *, publisher: Any = None, timeout: float = 30) -> None:
        self._publisher = PubSubPublisher(project, topic, publisher=publisher, timeout=timeout)
        self.topic_path = self._publisher.topic_path
        self.timeout = timeout

    def publish(self, message: QueueMessage) -> None:
        message_id = self._publisher.publish(message.to_json(), message.attributes())
        log.debug("published queue message %s as %s", message.attributes(), message_id)

    def close(self) -> None:
        """Flush pending messages and stop the publisher's background threads."""
        self._publisher.close()
