"""Thread pools kept for the life of a process, one per name, started on first use.

A search batch hands its shares to threads; starting them per request costs about a millisecond
and each new thread sizes the index engine's scratch again, so the pool stays. A child process
forked after a pool started inherits it without its threads (work given to it would wait
forever), so the pools are forgotten in the child and started again there on first use.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def shared_pool(name: str, threads: int) -> ThreadPoolExecutor:
    """The process's pool called ``name``, of ``threads`` threads when this call starts it."""
    with _LOCK:
        pool = _POOLS.get(name)
        if pool is None:
            pool = _POOLS[name] = ThreadPoolExecutor(max(1, int(threads)), thread_name_prefix=name)
        return pool


def _forget_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # another thread may have held it at the fork
    _POOLS.clear()


os.register_at_fork(after_in_child=_forget_in_child)
