"""Deferred work in the embedded process: the re-votes a request may not run, run after it.

In the cloud, ``Propagation`` publishes the re-votes past its inline bound to Pub/Sub and
``embed_index`` runs them later. Embedded, ``DeferredWork`` is the work queue it publishes to:
each message is recorded in the in-process outbox, and one daemon thread (started by a publish,
ended once the outbox holds none of its messages) hands them to the message handler one at a
time, off the publishing thread. Each re-vote takes ``Propagation``'s vote lock, as every
prediction write does (an embedding's too), so they still run one at a time; the request that
published them does not wait for them (``common.pipeline.deliver``).

``drain()`` waits until every message published so far has been handled: ``logo-ann`` commands
call it before they exit, ``logo-ann serve`` when it stops, tests before they read the outcome,
and an ``atexit`` hook for every live instance when the process ends. A message whose delivery
fails is logged and dropped: its logos keep their previous predictions until the next change
that reaches them, or ``logo-ann calibrate`` (which re-votes every logo).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

from common.messages import QueueMessage, RevoteMessage
from common.pipeline.deliver import MessageHandler

logger = logging.getLogger(__name__)


class DeferredOutbox(Protocol):
    """Where the deferred messages wait (``InProcessQueue``)."""

    def publish(self, message: QueueMessage) -> None: ...

    def take_one(self, select: Callable[[QueueMessage], bool] | None = None) -> QueueMessage | None: ...


def deferred(message: QueueMessage) -> bool:
    """The messages this worker takes: re-votes (the linear pipeline takes the crops messages)."""
    return isinstance(message, RevoteMessage)


class DeferredWork:
    """``WorkQueue`` for the embedded process: record, then deliver on the worker thread."""

    def __init__(self, outbox: DeferredOutbox, handler: Callable[[], MessageHandler]) -> None:
        """``handler`` is asked for the message handler when the first message is delivered: that
        handler re-votes through the ``Propagation`` that publishes here, so it is built after."""
        self.outbox = outbox
        self._handler = handler
        self._state = threading.Condition()
        self._waiting = 0  # published here and not yet taken by the worker
        self._worker: threading.Thread | None = None
        _live.add(self)

    def publish(self, message: QueueMessage) -> None:
        if not deferred(message):
            raise ValueError(f"deferred work takes re-vote messages, not {type(message).__name__}")
        self.outbox.publish(message)
        with self._state:
            self._waiting += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="logo-ann-deferred", daemon=True)
                self._worker.start()

    def drain(self) -> None:
        """Return once every message published so far has been handled (not from the worker itself)."""
        with self._state:
            while self._worker is not None:
                self._state.wait()

    def _run(self) -> None:
        while True:
            with self._state:
                if self._waiting == 0:
                    self._worker = None
                    self._state.notify_all()
                    return
                self._waiting -= 1
            message = self.outbox.take_one(deferred)
            if message is not None:
                self._deliver(message)

    def _deliver(self, message: QueueMessage) -> None:
        try:
            self._handler().handle_message(message)
        except Exception:  # nothing above this thread to retry it: logged, and the worker goes on
            logger.exception("deferred %s failed; its logos are re-voted by their next change or "
                             "logo-ann calibrate", message.attributes())  # fmt: skip


_live: weakref.WeakSet[DeferredWork] = weakref.WeakSet()


@atexit.register
def _drain_at_exit() -> None:
    """The process ends: finish what was deferred (the worker is a daemon thread)."""
    for work in list(_live):
        work.drain()
