"""The embedded default queue: an outbox in this process.

``publish`` only records the message; nothing is delivered inside the publisher. Those that
consume the embedded queue take messages off it: the embedded pipeline takes the crops messages
of the image it has just detected (``common.pipeline.linear``, so the pipeline stays linear:
detect, then each crops message, once), and the deferred-work thread takes the re-vote messages
(``common.pipeline.deferred``), as the cloud's subscription delivers them to ``embed_index``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from common.messages import QueueMessage, decode_message

Select = Callable[[QueueMessage], bool]


class InProcessQueue:
    """``WorkQueue`` whose messages wait in ``messages`` (oldest first) until taken."""

    def __init__(self) -> None:
        self.messages: list[QueueMessage] = []
        self._lock = threading.Lock()

    def publish(self, message: QueueMessage) -> None:
        # a round trip through JSON keeps the embedded default as strict as the real queue
        recorded = decode_message(message.to_json())
        with self._lock:
            self.messages.append(recorded)

    def take_one(self, select: Select | None = None) -> QueueMessage | None:
        """Remove and return the oldest recorded message ``select`` accepts (any when None)."""
        with self._lock:
            for i, message in enumerate(self.messages):
                if select is None or select(message):
                    return self.messages.pop(i)
        return None

    def drain(self, handler: Callable[[QueueMessage], object]) -> int:
        """Hand the recorded messages (oldest first) to ``handler``; returns how many."""
        count = 0
        while (taken := self.take_one()) is not None:
            handler(taken)
            count += 1
        return count
