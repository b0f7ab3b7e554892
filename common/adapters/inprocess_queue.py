"""The embedded default queue: delivery is a plain function call.

Without a handler (the embedded container's outbox), messages are recorded in ``messages``
and taken off with ``take`` or ``drain`` after the publishing use case has returned: that is
how the embedded pipeline stays linear (detect, then each crops message, once). With a
handler, ``publish`` runs it synchronously (an error in the handler reaches the publisher, as
a failed delivery would).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from common.messages import QueueMessage, decode_message

log = logging.getLogger(__name__)

Handler = Callable[[QueueMessage], None]


class InProcessQueue:
    """``CropsQueue`` that hands each message to a local callable."""

    def __init__(self, handler: Handler | None = None, defer: Callable[[QueueMessage], bool] | None = None) -> None:
        """``defer``: messages it accepts are recorded even with a handler (the embedded container
        defers crops messages, so they are delivered after detect returns)."""
        self.handler = handler
        self.defer = defer
        self.messages: list[QueueMessage] = []
        self._lock = threading.Lock()

    def publish(self, message: QueueMessage) -> None:
        # a round trip through JSON keeps the embedded default as strict as the real queue
        delivered = decode_message(message.to_json())
        if self.handler is None or (self.defer is not None and self.defer(delivered)):
            with self._lock:
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
        while (taken := self.take_one()) is not None:
            target(taken)
            count += 1
        return count

    def take_one(self, select: Callable[[QueueMessage], bool] | None = None) -> QueueMessage | None:
        """Remove and return the oldest recorded message ``select`` accepts (any when None)."""
        with self._lock:
            for i, message in enumerate(self.messages):
                if select is None or select(message):
                    return self.messages.pop(i)
        return None
