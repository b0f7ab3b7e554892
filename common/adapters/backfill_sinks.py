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
from common.domain import ObjectRef
from common.pipeline.detect import DetectDeps, detect_object
from common.ports.metadata_store import FAILED


class InProcessDetect:
    mode = "in-process"

    def __init__(self, deps: Callable[[], DetectDeps]) -> None:
        self._deps = deps

    def send(self, ref: ObjectRef, size: int | None) -> str | None:
        result = detect_object(ref, size, None, self._deps())
        return (result.error or "failed") if result.status == FAILED else None


class PubSubBackfill:
    mode = "pubsub"

    def __init__(self, project: str, topic: str, *, publisher: Any = None, timeout: float = 30) -> None:
        self._publisher = PubSubPublisher(project, topic, publisher=publisher, timeout=timeout)
        self.topic_path = self._publisher.topic_path

    def send(self, ref: ObjectRef, size: int | None) -> str | None:
        data = {"bucket": ref.bucket, "name": ref.name, "generation": ref.generation}
        if size is not None:
            data["size"] = str(size)
        attributes = {"origin": "backfill", "bucket": ref.bucket, "generation": ref.generation}
        self._publisher.publish(json.dumps(data, separators=(",", ":")).encode(), attributes)
        return None

    def close(self) -> None:
        self._publisher.close()
