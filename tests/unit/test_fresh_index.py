"""``Container.fresh_index``: the index caught up with other processes' writes, without making a
request wait while another thread catches it up (or holds the lock to index a photo)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from common.adapters.sqlite_store import SqliteStore
from common.bootstrap import Container
from common.settings import load_settings
from tests.fakes import BruteForceIndex


class SyncCounting(BruteForceIndex):
    """A derived index (``common.ports.vector_index.DerivedIndex``) that counts its catch-ups."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0

    def reload_if_changed(self) -> bool:
        return False

    def catch_up(self, store: Any) -> int:
        self.syncs += 1
        return 0


def test_a_request_uses_the_index_as_it_is_while_another_thread_holds_the_lock(tmp_path: Path) -> None:
    index = SyncCounting()
    container = Container(load_settings({}, home=tmp_path), store=SqliteStore(tmp_path / "m.sqlite3"), index=index)
    assert container.fresh_index() is index and index.syncs == 1  # the first call catches up
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with container._lock:  # as ``handle_crops`` holds it while a photo is embedded and indexed
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    container._last_sync = 1e-9  # the last catch-up was long ago
    answered: list[Any] = []
    request = threading.Thread(target=lambda: answered.append(container.fresh_index()))
    request.start()
    request.join(timeout=30)  # a request that waited for the lock would still be waiting
    release.set()
    holder.join()
    request.join()
    assert answered == [index] and index.syncs == 1
    assert container.fresh_index() is index and index.syncs == 2  # the lock free again: it catches up


class RecordingLock:
    """The container's lock, saying whether each caller was willing to wait for it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.waits: list[bool] = []

    def acquire(self, blocking: bool = True) -> bool:
        self.waits.append(blocking)
        return self.lock.acquire(blocking)

    def release(self) -> None:
        self.lock.release()


def test_only_the_first_catch_up_waits_for_the_lock(tmp_path: Path) -> None:
    index = SyncCounting()
    container = Container(load_settings({}, home=tmp_path), store=SqliteStore(tmp_path / "m.sqlite3"), index=index)
    container._lock = lock = RecordingLock()  # type: ignore[assignment]
    container.fresh_index()
    container._last_sync = 1e-9
    container.fresh_index()
    assert lock.waits == [True, False] and index.syncs == 2
