"""A small thread-safe pool of DB-API connections, sized for one function instance or process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from common.errors import DependencyError

logger = logging.getLogger(__name__)


class ConnectionPool:
    """At most ``size`` connections, opened lazily and reused last-in first-out.

    A caller that finds every connection busy waits up to ``wait_s`` seconds. A connection
    released as broken is closed and replaced by a fresh one on a later acquire.
    """

    def __init__(self, connect: Callable[[], Any], size: int, dependency: str, wait_s: float = 30.0) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self._connect = connect
        self._dependency = dependency
        self._wait_s = wait_s
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._closed = False

    def acquire(self) -> Any:
        if self._closed:
            raise DependencyError(self._dependency, "the store is closed")
        if not self._slots.acquire(timeout=self._wait_s):
            raise DependencyError(self._dependency, f"no free connection after {self._wait_s:.0f} s")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            return conn
        try:
            return self._connect()
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: Any, broken: bool = False) -> None:
        try:
            with self._lock:
                keep = not broken and not self._closed
                if keep:
                    self._idle.append(conn)
            if not keep:
                close_quietly(conn)
        finally:
            self._slots.release()

    def discard_idle(self) -> int:
        """Close the idle connections (after a server restart they are all dead); returns how many."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            close_quietly(conn)
        return len(idle)

    def close(self) -> None:
        """Close idle connections now; busy ones are closed when released."""
        with self._lock:
            self._closed = True
        self.discard_idle()


def close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # a broken connection may fail to close; nothing more to do
        logger.debug("closing a connection failed: %s", exc)
