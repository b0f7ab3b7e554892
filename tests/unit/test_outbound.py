"""The rules for calls to other services inside a request: a bound answered at once, a short memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from common.errors import DependencyError, InvalidImageError, NotFoundError, RetryLaterError
from common.outbound import Outbound


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """A call that counts itself and answers with ``outcome`` (raised when an exception)."""

    def __init__(self, outcome: object = "ok") -> None:
        self.outcome = outcome
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def hold(outbound: Outbound, pool: ThreadPoolExecutor, count: int) -> tuple[threading.Event, list[Future[object]]]:
    """``count`` calls in flight through ``outbound``, each blocked until the event is set."""
    release, started = threading.Event(), threading.Semaphore(0)

    def blocked() -> object:
        started.release()
        release.wait(30)
        return "slow"

    futures = [pool.submit(outbound.bounded, blocked) for _ in range(count)]
    for _ in range(count):
        assert started.acquire(timeout=30)
    return release, futures


def test_one_call_beyond_the_bound_is_refused_at_once_not_queued(pool: ThreadPoolExecutor) -> None:
    outbound = Outbound("image host", limit=2)
    release, futures = hold(outbound, pool, 2)
    waiting = Counted()
    with pytest.raises(RetryLaterError) as refused:
        outbound.bounded(waiting)
    assert waiting.calls == 0 and refused.value.retry_after_s == 1 and refused.value.dependency == "image host"
    assert outbound.refused == 1
    release.set()
    assert [f.result(timeout=30) for f in futures] == ["slow", "slow"]
    assert outbound.bounded(waiting) == "ok" and waiting.calls == 1  # the slots came back


def test_a_slot_comes_back_when_the_call_raises() -> None:
    outbound = Outbound("auth", limit=1)
    with pytest.raises(DependencyError):
        outbound.bounded(Counted(DependencyError("auth", "down")))
    assert outbound.bounded(Counted()) == "ok"


def test_a_failure_is_remembered_per_key_until_its_ttl() -> None:
    clock = Clock()
    outbound = Outbound("image host", limit=4, miss_ttl_s=60, failure_ttl_s=10, timer=clock)
    failing = Counted(DependencyError("image host", "timed out"))
    with pytest.raises(DependencyError):
        outbound.call("a", failing)
    clock.now += 2.5
    with pytest.raises(RetryLaterError) as again:
        outbound.call("a", failing)
    assert failing.calls == 1 and again.value.retry_after_s == 8  # 7.5 s left, rounded up
    assert "timed out" in str(again.value)
    other = Counted()
    assert outbound.call("b", other) == "ok" and other.calls == 1  # another key is asked
    clock.now += 7.6
    with pytest.raises(DependencyError) as fresh:
        outbound.call("a", failing)
    assert failing.calls == 2 and not isinstance(fresh.value, RetryLaterError)


@pytest.mark.parametrize("miss", [NotFoundError("the image host answered 404"), InvalidImageError("not an image")])
def test_a_miss_is_answered_the_same_until_its_ttl(miss: Exception) -> None:
    clock = Clock()
    outbound = Outbound("image host", limit=4, miss_ttl_s=60, failure_ttl_s=10, timer=clock)
    missing = Counted(miss)
    for _ in range(3):
        with pytest.raises(type(miss), match=str(miss)):
            outbound.call("gone", missing)
    assert missing.calls == 1
    clock.now += 61
    with pytest.raises(type(miss)):
        outbound.call("gone", missing)
    assert missing.calls == 2


def test_a_refusal_by_the_bound_is_not_remembered(pool: ThreadPoolExecutor) -> None:
    outbound = Outbound("image host", limit=1, failure_ttl_s=60)
    release, futures = hold(outbound, pool, 1)
    with pytest.raises(RetryLaterError):
        outbound.call("x", Counted())
    release.set()
    futures[0].result(timeout=30)
    later = Counted()
    assert outbound.call("x", later) == "ok" and later.calls == 1


def test_no_ttl_remembers_nothing() -> None:
    outbound = Outbound("auth", limit=1)
    failing = Counted(DependencyError("auth", "down"))
    for _ in range(2):
        with pytest.raises(DependencyError) as raised:
            outbound.call("k", failing)
        assert not isinstance(raised.value, RetryLaterError)
    assert failing.calls == 2
