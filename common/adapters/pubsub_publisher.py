"""Publish raw payloads to one Pub/Sub topic, waiting for the server's acknowledgement.

Failures (unreachable, timeout, missing topic, permission) raise ``DependencyError("pubsub")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from google.api_core import exceptions as api_exceptions

from common.errors import DependencyError


class PubSubPublisher:
    def __init__(self, project: str, topic: str, *, publisher: Any = None, timeout: float = 30) -> None:
        if publisher is None:
            from google.cloud import pubsub_v1  # heavy import, only when the adapter is chosen

            publisher = pubsub_v1.PublisherClient()
        self._publisher = publisher
        self.topic_path: str = publisher.topic_path(project, topic)
        self.timeout = timeout

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        """Publish and wait; returns the message id."""
        try:
            future = self._publisher.publish(self.topic_path, data, **dict(attributes))
            return str(future.result(timeout=self.timeout))
        except FutureTimeout as exc:
            raise DependencyError("pubsub", f"publish to {self.topic_path} timed out after {self.timeout}s") from exc
        except (api_exceptions.GoogleAPIError, OSError) as exc:
            raise DependencyError("pubsub", f"publish to {self.topic_path} failed: {exc}") from exc

    def close(self) -> None:
        stop = getattr(self._publisher, "stop", None)
        if callable(stop):
            stop()
