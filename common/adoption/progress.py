"""A progress line for long commands: count, rate and time left, at most every few seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def clock() -> float:
    return time.monotonic()


class Progress:
    """``advance(n)`` after each unit of work; one line per ``every_s`` seconds, and one at ``close``."""

    def __init__(
        self, label: str, total: int | None, unit: str = "rows", stream: TextIO | None = None,
        every_s: float = 2.0, now: Callable[[], float] = clock,
    ) -> None:  # fmt: skip
        self.label, self.total, self.unit = label, total, unit
        self.stream = sys.stderr if stream is None else stream
        self.every_s, self._now = every_s, now
        self.done = 0
        self.started = now()
        self._last = self.started

    def advance(self, count: int) -> None:
        self.done += count
        if self._now() - self._last >= self.every_s:
            self._print()

    def close(self) -> None:
        self._print()

    @property
    def seconds(self) -> float:
        return max(self._now() - self.started, 1e-9)

    def line(self) -> str:
        rate = self.done / self.seconds
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        text = f"{self.label}: {count} {self.unit}, {rate:,.0f} {self.unit}/s"
        if self.total is not None and rate > 0:
            left = max(0, self.total - self.done) / rate
            text += f", ETA {format_duration(left)}"
        return text

    def _print(self) -> None:
        self._last = self._now()
        print(self.line(), file=self.stream, flush=True)


def format_duration(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
