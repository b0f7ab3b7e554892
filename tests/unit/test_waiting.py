"""stack.waiting.wait_until: the one polling helper tests, benchmarks and the stack tool use."""

from __future__ import annotations

import itertools

import pytest

from stack.waiting import WaitTimeout, wait_until


def test_returns_the_first_truthy_value_once_the_condition_holds() -> None:
    answers = iter([None, [], {"ready": 3}])
    assert wait_until(lambda: next(answers), 5, interval=0) == {"ready": 3}


def test_past_the_timeout_it_fails_with_the_message_read_only_then() -> None:
    calls = itertools.count()
    read: list[str] = []

    def message() -> str:
        read.append("log")
        return "3 of 4 indexed"

    with pytest.raises(WaitTimeout, match=r"not done after 0.05s: 3 of 4 indexed"):
        wait_until(lambda: next(calls) < 0, 0.05, interval=0.01, message=message)
    assert read == ["log"]
    assert next(calls) > 2  # it polled more than once before giving up


def test_a_timeout_is_a_test_failure_and_an_error_in_the_condition_ends_the_wait() -> None:
    assert issubclass(WaitTimeout, AssertionError)

    def broken() -> bool:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        wait_until(broken, 60)
