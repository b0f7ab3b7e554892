"""Where an import writes: Robotoff's rows under their own ids, and a checkpoint per source.

Each batch is one transaction that also moves the source's checkpoint, so a process killed at
any moment resumes exactly after the last committed batch, and a logo already stored is never
written twice.
"""

from __future__ import annotations

from typing import Protocol

from common.imports.batch import ImportBatch
from common.records.imports import BatchOutcome, Checkpoint


class ImportStore(Protocol):
    def checkpoint(self, source: str) -> Checkpoint | None: ...

    def begin(self, source: str, kind: str, restart: bool = False) -> Checkpoint:
        """The source's checkpoint, created when absent (or reset with ``restart``)."""
        ...

    def write(self, source: str, bucket: str, batch: ImportBatch) -> BatchOutcome:
        """Write a checked batch and move the checkpoint to ``batch.position``, in one transaction."""
        ...

    def finish(self, source: str) -> Checkpoint: ...

    def failures(self, source: str, limit: int = 20) -> list[tuple[int, str]]:
        """Recorded failures of a source (logo id, reason), lowest id first."""
        ...
