"""Where a backfill hands each object: detect in this process, or the backfill topic.

``InProcessDetect`` (embedded) runs the detect use case, and with it embed_index through the
in-process queue, exactly as an upload does. ``PubSubBackfill`` (cloud) publishes the object's
``finalized``-shaped data to the backfill topic, whose push subscription delivers it to the
``detect`` function with retries and a dead-letter topic (``infra/terraform``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from common.adapters.pubsub_publisher import PubSubPublisher
from common.domain import StoredObject
from common.pipeline.detect import DetectResult
from common.ports.metadata_store import FAILED


class InProcessDetect:
    """The deployment's own detect use case (``Container.detect``: detect, then the crops it queued)."""

    mode = "in-process"

    def __init__(self, detect: Callable[[StoredObject], DetectResult]) -> None:
        self._detect = detect

    def send(self, stored: StoredObject) -> str | None:
        result = self._detect(stored)
        return (result.error or "failed") if result.status == FAILED else None


class PubSubBackfill:
    mode = "pubsub"

    def __init__(self, project: str, topic: str, *, publisher: Any = None, timeout: float = 30) -> None:
        self._publisher = PubSubPublisher(project, topic, publisher=publisher, timeout=timeout)
        self.topic_path = self._publisher.topic_path

    def send(self, stored: StoredObject) -> str | None:
        ref = stored.ref
        data = {"bucket": ref.bucket, "name": ref.name, "generation": ref.generation}
        if stored.size is not None:
            data["size"] = str(stored.size)
        if stored.content_type:
            data["contentType"] = stored.content_type
        attributes = {"origin": "backfill", "bucket": ref.bucket, "generation": ref.generation}
        self._publisher.publish(json.dumps(data, separators=(",", ":")).encode(), attributes)
        return None

    def close(self) -> None:
        self._publisher.close()
