"""The embedded default crops queue: delivery is a plain function call.

With a handler, ``publish`` runs it synchronously, so the embedded pipeline does detect and
embed in one go (an error in the handler reaches the publisher, as a failed delivery would).
Without one, messages are recorded in ``messages`` for a later ``drain`` (or for tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from common.messages import QueueMessage, decode_message

log = logging.getLogger(__name__)

Handler = Callable[[QueueMessage], None]


class InProcessQueue:
    """``CropsQueue`` that hands each message to a local callable."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.messages: list[QueueMessage] = []

    def publish(self, message: QueueMessage) -> None:
        # a round trip through JSON keeps the embedded default as strict as the real queue
        delivered = decode_message(message.to_json())
        if self.handler is None:
            self.messages.append(delivered)
            return
        log.debug("delivering queue message %s in process", delivered.attributes())
        self.handler(delivered)

    def drain(self, handler: Handler | None = None) -> int:
        """Deliver the recorded messages (oldest first) to ``handler``; returns how many."""
        target = handler or self.handler
        if target is None:
            raise ValueError("drain needs a handler")
        count = 0
        while self.messages:
            target(self.messages.pop(0))
            count += 1
        return count
