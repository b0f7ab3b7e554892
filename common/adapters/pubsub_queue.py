"""The crops queue on Google Cloud Pub/Sub (or its emulator, via ``PUBSUB_EMULATOR_HOST``).

``publish`` waits for the server's acknowledgement, so a message is durable once it returns;
any failure (unreachable, timeout, missing topic, permission) raises ``DependencyError``: the
calling event is then retried by the platform, and the idempotent handlers absorb repeats.
"""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from google.api_core import exceptions as api_exceptions

from common.errors import DependencyError
from common.messages import QueueMessage

log = logging.getLogger(__name__)


class PubSubQueue:
    """``CropsQueue`` publishing JSON messages with routing attributes to one topic."""

    def __init__(self, project: str, topic: str, *, publisher: Any = None, timeout: float = 30) -> None:
        if publisher is None:
            from google.cloud import pubsub_v1  # heavy import, only when the adapter is chosen

            publisher = pubsub_v1.PublisherClient()
        self._publisher = publisher
        self.topic_path: str = publisher.topic_path(project, topic)
        self.timeout = timeout

    def publish(self, message: QueueMessage) -> None:
        try:
            future = self._publisher.publish(self.topic_path, message.to_json(), **message.attributes())
            message_id = future.result(timeout=self.timeout)
        except FutureTimeout as exc:
            raise DependencyError("pubsub", f"publish to {self.topic_path} timed out after {self.timeout}s") from exc
        except (api_exceptions.GoogleAPIError, OSError) as exc:
            raise DependencyError("pubsub", f"publish to {self.topic_path} failed: {exc}") from exc
        log.debug("published queue message %s as %s", message.attributes(), message_id)

    def close(self) -> None:
        """Flush pending messages and stop the publisher's background threads."""
        stop = getattr(self._publisher, "stop", None)
        if callable(stop):
            stop()
