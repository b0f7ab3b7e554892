"""Backfill cursors: one per backfill, so a stopped backfill resumes after the last object it handled."""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class BackfillCursor:
    name: str
    bucket: str
    prefix: str
    since: str | None
    last_object: str  # objects are listed in name order; "" before the first
    processed: int
    skipped: int
    failed: int
    started_at: str
    updated_at: str
    finished_at: str | None


class BackfillStore(Protocol):
    def cursor(self, name: str) -> BackfillCursor | None: ...

    def begin(self, name: str, bucket: str, prefix: str, since: str | None, restart: bool = False) -> BackfillCursor:
        """The backfill's cursor, created when absent (or reset with ``restart``)."""
        ...

    def advance(self, name: str, last_object: str, outcome: str, reason: str | None = None) -> None:
        """Record one object handled (``outcome``: processed, skipped or failed) and move the cursor."""
        ...

    def finish(self, name: str) -> BackfillCursor: ...

    def failures(self, name: str, limit: int = 20) -> list[tuple[str, str]]:
        """(object name, reason) of the objects that failed, by name."""
        ...
