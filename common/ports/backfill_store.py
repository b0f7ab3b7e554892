"""Backfill cursors: one per backfill, so a stopped backfill resumes after the last object it handled."""

from __future__ import annotations

from typing import Protocol

from common.records.imports import BackfillCursor


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
