"""Work the CPU should do after everything else: photo decodes for crops, on threads the OS
schedules at a lower priority.

Under Hunger Games' mix most of the server's CPU goes to decoding the photos that crops are cut
from (8 ms a 1 MP JPEG, against 1 ms for a whole neighbour search), and Pillow decodes without the
interpreter lock, so the decodes compete with searches for the cores, not for the lock. On
threads at nice ``niceness`` the kernel runs a search's thread first whenever both are ready; when
nothing else wants the cores the decodes get all of them.

Linux sets a niceness per thread (``setpriority`` on the thread's id); elsewhere it would apply to
the whole process, so there the threads keep the process's priority. A thread's niceness can only
be raised without privileges, hence threads of their own rather than the request's thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class LowPriorityPool:
    """``run(work)``: ``work()`` on one of ``threads`` threads whose niceness is ``niceness`` above
    the process's; its result or its exception, in the calling thread (which waits).
    ``niceness`` 0: in the calling thread."""

    def __init__(self, threads: int, niceness: int, name: str = "low-priority") -> None:
        self.niceness = niceness
        self._pool = (
            ThreadPoolExecutor(threads, thread_name_prefix=name, initializer=_lower_priority, initargs=(niceness,))
            if niceness > 0
            else None
        )

    def run(self, work: Callable[[], T]) -> T:
        if self._pool is None:
            return work()
        return self._pool.submit(work).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority(niceness: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:  # relative to the thread's own: a server started under nice keeps the order it asked for
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + niceness))
    except OSError as exc:  # a container may forbid it: the work still runs, at the usual priority
        logger.warning("cannot lower the priority of thread %s: %s", threading.current_thread().name, exc)
