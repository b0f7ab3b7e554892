"""The embedded pipeline, linear: detect returns, then each crops message it queued is delivered.

The embedded in-process queue records crops messages (its outbox) instead of running embed
inside the publisher. ``run_linear`` runs detect on one stored object, then takes that image's
messages off the outbox one by one and hands each to ``deliver`` (embed, index, neighbours)
exactly once. So a transient embed failure is counted once, by ``embed_and_index``, and then
propagates to the caller: the API answers 503, ``logo-ann ingest`` records it against the file
and goes on. The image stays ``detected`` with the attempt counted; ingesting the file again or
``logo-ann reconcile --requeue`` sends its work again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from common.domain import StoredObject
from common.messages import CropsMessage, QueueMessage
from common.pipeline.detect import DetectDeps, DetectResult, detect_object, result_of


@runtime_checkable
class Outbox(Protocol):
    """A queue whose messages wait in this process until taken (``InProcessQueue``)."""

    def take_one(self, select: Callable[[QueueMessage], bool] | None = None) -> QueueMessage | None: ...


def run_linear(
    stored: StoredObject, deps: DetectDeps, outbox: Outbox, deliver: Callable[[QueueMessage], None]
) -> DetectResult:
    """Detect ``stored``, then deliver each of its image's queued messages once; the result after both."""
    result = detect_object(stored.ref, stored.size, stored.content_type, deps)

    def mine(message: QueueMessage) -> bool:
        return isinstance(message, CropsMessage) and message.image_id == result.image_id

    delivered = 0
    while (message := outbox.take_one(mine)) is not None:
        deliver(message)
        delivered += 1
    return result_of(deps, result.image_id, result.timings) if delivered else result
