"""Calls to other services made inside a request: a concurrency bound, and a short memory.

A request that waits on another service (an image host, Product Opener's ``auth.pl``, a taxonomy
URL) holds one of the server's few threads meanwhile. Without a bound, callers that name a slow
dependency (or a flood of them) take every thread, and requests that need nothing from it (an
ANN search) queue behind them. ``Outbound`` keeps each dependency to its own share:

- ``bounded(call)``: at most ``limit`` calls run at once. One more is not queued: it fails at
  once with ``RetryLaterError`` (``retry_after_s`` 1), which the API answers 503 with
  ``Retry-After``. A caller is never kept waiting for a slot, so a refused request costs
  microseconds, not a thread.
- ``remembering(key, call)``: a call that failed (``TransientError``: timeout, refused, 5xx) is
  answered for ``failure_ttl_s`` with ``RetryLaterError`` (``Retry-After`` the time left) without
  calling again; one that answered "no" (``PermanentError``: not found, refused by policy, not an
  image) is answered with the same error for ``miss_ttl_s``. So the same missing image is not
  fetched again and again. A refusal by the bound itself is not remembered.
- ``call(key, call)``: both.

The memories are ``cachetools.TTLCache`` (``size`` keys each, least recently used first out).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from cachetools import TTLCache

from common.errors import PermanentError, RetryLaterError, TransientError

T = TypeVar("T")
BUSY_RETRY_AFTER_S = 1  # a slot frees as soon as one call in flight ends


class Outbound:
    """One dependency's concurrency bound and its memory of misses and failures."""

    def __init__(
        self,
        dependency: str,
        limit: int,
        miss_ttl_s: float = 0.0,
        failure_ttl_s: float = 0.0,
        size: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("an outbound bound needs at least one slot")
        self.dependency = dependency
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._timer = timer
        # (type, args) of a miss, and (expiry, message) of a failure; TTLCache is not thread-safe
        self._misses: TTLCache[str, tuple[type[PermanentError], tuple[object, ...]]] | None = (
            TTLCache(size, miss_ttl_s, timer=timer) if miss_ttl_s > 0 else None
        )
        self._failures: TTLCache[str, tuple[float, str]] | None = (
            TTLCache(size, failure_ttl_s, timer=timer) if failure_ttl_s > 0 else None
        )
        self._failure_ttl_s = failure_ttl_s
        self._lock = threading.Lock()
        self.refused = 0  # calls refused by the bound (a gauge for logs and tests)

    def bounded(self, call: Callable[[], T]) -> T:
        """``call()`` in one of the ``limit`` slots, or ``RetryLaterError`` at once when none is free."""
        if not self._slots.acquire(blocking=False):
            with self._lock:
                self.refused += 1
            raise RetryLaterError(
                self.dependency, f"{self.limit} calls already in flight; not waiting", BUSY_RETRY_AFTER_S
            )
        try:
            return call()
        finally:
            self._slots.release()

    def remembering(self, key: str, call: Callable[[], T]) -> T:
        """``call()``, unless ``key`` missed or failed moments ago: then that answer again."""
        self._recall(key)
        try:
            return call()
        except RetryLaterError:
            raise  # not an answer of the dependency's: the next caller may get a slot
        except PermanentError as exc:
            if self._misses is not None:
                with self._lock:
                    self._misses[key] = (type(exc), exc.args)
            raise
        except TransientError as exc:
            if self._failures is not None:
                with self._lock:
                    self._failures[key] = (self._timer() + self._failure_ttl_s, str(exc))
            raise

    def call(self, key: str, call: Callable[[], T]) -> T:
        """``call()`` bounded and remembered (see the module docstring)."""
        return self.remembering(key, lambda: self.bounded(call))

    def _recall(self, key: str) -> None:
        with self._lock:
            miss = self._misses.get(key) if self._misses is not None else None
            failure = self._failures.get(key) if self._failures is not None else None
        if miss is not None:
            kind, args = miss
            raise kind(*args)
        if failure is not None:
            expires, message = failure
            left = max(1, math.ceil(expires - self._timer()))
            raise RetryLaterError(self.dependency, f"failed moments ago, not asked again for {left} s: {message}", left)
