"""Progress of long commands on stderr: count, rate and time left, drawn by tqdm.

On a terminal the line is redrawn in place; into a file or a pipe (CI logs, ``2> log``) it is
written as whole lines, at most one every ``every_s`` seconds, and one when the work ends, so a
log shows the same figures without carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

WITH_TOTAL = "{desc}: {n_fmt}/{total_fmt}{unit}, {rate_fmt}, {remaining} left"
WITHOUT_TOTAL = "{desc}: {n_fmt}{unit}, {rate_fmt}, {elapsed} elapsed"


class _Bar(tqdm):  # type: ignore[misc]
    monitor_interval = 0  # no monitor thread: the work itself advances the bar


class _Lines:
    """A file for tqdm that turns its in-place redraws into whole lines (no carriage returns, no repeats)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        line = " ".join(text.replace("\r", "").split())  # no carriage return, no padding
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """``advance(n)`` after each unit of work, ``close()`` at the end (the last line is kept).

    ``done`` and ``seconds`` are what the command's report needs; ``now`` is the clock they use.
    """

    def __init__(
        self, label: str, total: int | None, unit: str = "rows", stream: TextIO | None = None,
        every_s: float = 2.0, now: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.stream = sys.stderr if stream is None else stream
        self._now = now
        self.started = now()
        self.done = 0
        self._terminal = _is_terminal(self.stream)
        self._lines = _Lines(self.stream)
        self._bar = _Bar(
            total=total,
            desc=label,
            unit=f" {unit}",
            file=self.stream if self._terminal else self._lines,
            mininterval=0.2 if self._terminal else every_s,
            delay=0 if self._terminal else every_s,  # a log gets no "0 rows" line
            smoothing=0,  # the rate since the start, so the time left does not jump
            bar_format=WITH_TOTAL if total is not None else WITHOUT_TOTAL,
            dynamic_ncols=self._terminal,
            leave=self._terminal,  # a log gets its last line from close()
        )

    def advance(self, count: int) -> None:
        self.done += count
        self._bar.update(count)

    def close(self) -> None:
        bar = self._bar
        if not bar.disable and not self._terminal and bar.n and (not self._lines.last or bar.last_print_n != bar.n):
            bar.refresh()  # the final figures as a line, also when the work took under every_s
        self._bar.close()

    @property
    def seconds(self) -> float:
        return max(self._now() - self.started, 1e-9)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
