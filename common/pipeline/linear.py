"""The pipeline on one stored object, as the deployment runs it (``Pipeline.detect``).

- ``QueuedPipeline`` (the cloud, or any real queue): detect here; the queue carries the crops
  messages to ``embed_index``, which runs elsewhere.
- ``EmbeddedPipeline`` (the in-process outbox): linear. Detect returns, then each crops message
  it queued is taken off the outbox and handed to the message handler (embed, index, neighbours)
  exactly once, in the caller's thread. So a transient embed failure is counted once, by
  ``embed_and_index``, and then propagates to the caller: the API answers 503, ``logo-ann
  ingest`` records it against the file and goes on. The image stays ``detected`` with the
  attempt counted; ingesting the file again or ``logo-ann reconcile --requeue`` sends its work
  again. Re-vote messages are not the pipeline's: the deferred-work thread takes them
  (``common.pipeline.deferred``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from common.domain import StoredObject
from common.messages import CropsMessage, QueueMessage
from common.pipeline.deliver import MessageHandler
from common.pipeline.detect import DetectDeps, DetectResult, detect_object, result_of


class Pipeline(Protocol):
    def detect(self, stored: StoredObject) -> DetectResult:
        """Run the pipeline on ``stored`` as far as this deployment runs it here; its outcome."""
        ...


@runtime_checkable
class Outbox(Protocol):
    """A queue whose messages wait in this process until taken (``InProcessQueue``)."""

    def take_one(self, select: Callable[[QueueMessage], bool] | None = None) -> QueueMessage | None: ...


class QueuedPipeline:
    """Detect only: the crops messages go through the queue to ``embed_index``."""

    def __init__(self, deps: DetectDeps) -> None:
        self.deps = deps

    def detect(self, stored: StoredObject) -> DetectResult:
        return detect_object(stored.ref, stored.size, stored.content_type, self.deps)


class EmbeddedPipeline:
    """Detect, then each of the image's crops messages from the outbox, once (the module's docstring)."""

    def __init__(self, deps: DetectDeps, outbox: Outbox, handler: MessageHandler) -> None:
        self.deps = deps
        self.outbox = outbox
        self.handler = handler

    def detect(self, stored: StoredObject) -> DetectResult:
        """Detect ``stored``, then deliver each of its image's queued messages once; the result after both."""
        result = detect_object(stored.ref, stored.size, stored.content_type, self.deps)

        def mine(message: QueueMessage) -> bool:
            return isinstance(message, CropsMessage) and message.image_id == result.image_id

        delivered = 0
        while (message := self.outbox.take_one(mine)) is not None:
            self.handler.handle_message(message)
            delivered += 1
        return result_of(self.deps, result.image_id, result.timings) if delivered else result
