"""Records of an import from Robotoff and of a backfill: checkpoints, outcomes, cursors."""

from __future__ import annotations

import dataclasses


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
