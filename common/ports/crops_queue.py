"""The queue between ``detect`` and ``embed_index``: one message per image."""

from __future__ import annotations

from typing import Protocol

from common.messages import CropsMessage


class CropsQueue(Protocol):
    def publish(self, message: CropsMessage) -> None:
        """Publish (at least once). ``TransientError`` when the queue is unreachable."""
        ...
