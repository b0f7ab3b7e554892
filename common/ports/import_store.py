"""Where an import writes: Robotoff's rows under their own ids, and a checkpoint per source.

Each batch is one transaction that also moves the source's checkpoint, so a process killed at
any moment resumes exactly after the last committed batch, and a logo already stored is never
written twice.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from common.adoption.batch import ImportBatch


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    source: str
    kind: str
    resume_after: int  # the last logo id (database) or line number (JSONL) done
    rows_done: int
    imported: int
    failed: int
    started_at: str
    updated_at: str
    finished_at: str | None


@dataclasses.dataclass
class BatchOutcome:
    imported: int = 0  # logos written now
    present: int = 0  # logos already stored under the same id and image
    embeddings: int = 0  # embeddings written now
    without_embedding: int = 0  # logos written without one (none in the source, or refused)
    out_of_search: int = 0  # embeddings left out because their image is deleted
    failed: int = 0  # source rows with a recorded reason

    def add(self, other: BatchOutcome) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


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
