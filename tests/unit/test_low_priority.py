"""Photo decodes on threads of lower priority: the result or the error comes back to the caller."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from common.pipeline.low_priority import LowPriorityPool


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a niceness per thread is Linux's")
def test_work_runs_on_a_thread_of_raised_niceness_and_the_caller_keeps_its_own() -> None:
    pool = LowPriorityPool(2, 7)
    before = own_niceness()
    try:
        ran_on, niceness = pool.run(lambda: (threading.get_native_id(), own_niceness()))
    finally:
        pool.close()
    assert ran_on != threading.get_native_id() and niceness == min(19, before + 7)
    assert own_niceness() == before


def test_the_work_s_exception_reaches_the_caller() -> None:
    pool = LowPriorityPool(1, 5)

    def fail() -> None:
        raise ValueError("not an image")

    try:
        with pytest.raises(ValueError, match="not an image"):
            pool.run(fail)
    finally:
        pool.close()


def test_niceness_zero_runs_in_the_calling_thread() -> None:
    assert LowPriorityPool(4, 0).run(threading.get_native_id) == threading.get_native_id()
