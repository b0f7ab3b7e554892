"""One way to wait for something to become true: poll a condition until it holds or a timeout passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold in time (an ``AssertionError``, so a test reports it as a failure)."""


def wait_until(
    condition: Callable[[], T], timeout: float, *, interval: float = 0.1, message: str | Callable[[], str] = ""
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and return that.

    Past ``timeout`` seconds it raises :class:`WaitTimeout` with ``message`` (called only then when it is a
    function, so it can read logs or the last state seen). An exception from ``condition`` ends the wait at once.
    """
    give_up = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= give_up:
            text = message() if callable(message) else message
            raise WaitTimeout(f"not done after {timeout:g}s: {text}" if text else f"not done after {timeout:g}s")
        time.sleep(interval)
