"""The queue between ``detect`` and ``embed_index``: one message per image (and re-vote messages)."""

from __future__ import annotations

from typing import Protocol

from common.messages import QueueMessage


class CropsQueue(Protocol):
    def publish(self, message: QueueMessage) -> None:
        """Publish (at least once). ``TransientError`` when the queue is unreachable."""
        ...
