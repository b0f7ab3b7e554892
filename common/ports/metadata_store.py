"""The metadata store: the source of truth (PostgreSQL in the cloud, SQLite embedded).

Every write is idempotent on its natural key, so a repeated event or message changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from common.domain import Detection, ObjectRef
from common.ports.off_image_store import OffImageStore
from common.records.logos import Change, ImageRecord, LogoRecord, NeighbourList, VectorCheck

# image.status values
PENDING, DETECTED, INDEXED, FAILED, DELETED, SUPERSEDED = (
    "pending",
    "detected",
    "indexed",
    "failed",
    "deleted",
    "superseded",
)


@runtime_checkable
class ChecksVectors(Protocol):
    """A store that can verify its stored vectors (the SQL stores: crc32 of the slot-file records)."""

    def check_vectors(self, batch_size: int = 10_000) -> VectorCheck: ...

    def vector_stats(self) -> list[dict[str, Any]]:
        """Per vector file, without reading the vectors: records, live rows, holes, dead fraction."""
        ...


class MetadataStore(OffImageStore, Protocol):
    # --- images -------------------------------------------------------------------------
    def upsert_image(self, ref: ObjectRef, size: int | None, content_type: str | None) -> tuple[ImageRecord, bool]:
        """The image row for ``ref`` (unique on bucket, name, generation); True if just created."""
        ...

    def get_image(self, image_id: int) -> ImageRecord | None: ...

    def find_images(self, bucket: str, name: str) -> list[ImageRecord]:
        """Every generation of an object, newest generation first."""
        ...

    def mark_image(self, image_id: int, status: str, error: str | None = None) -> None: ...

    def stalled_images(
        self, statuses: Sequence[str], updated_before: dt.datetime, limit: int = 1000
    ) -> list[ImageRecord]:
        """Images in one of ``statuses`` untouched since ``updated_before`` (for ``reconcile --requeue``)."""
        ...

    def count_attempt(self, image_id: int, error: str) -> int:
        """Record a failed attempt (transient error text); returns the attempt count."""
        ...

    # --- logos --------------------------------------------------------------------------
    def record_detections(
        self, image_id: int, width: int, height: int, detections: Sequence[Detection], detector_version: str
    ) -> list[LogoRecord]:
        """Store the logos of an image once; on a repeat, return the logos already stored."""
        ...

    def logos_of_image(self, image_id: int) -> list[LogoRecord]: ...

    def get_logos(self, logo_ids: Sequence[int]) -> list[LogoRecord]: ...

    def delete_logos_of_image(self, image_id: int, keep_annotated: bool = True) -> list[int]:
        """Remove the image's logos (and embeddings); returns the removed logo ids."""
        ...

    def random_logo_with_embedding(self) -> int | None: ...

    # --- embeddings ---------------------------------------------------------------------
    def save_embeddings(
        self, logo_ids: Sequence[int], vectors: np.ndarray, embedder_version: str, crop_recipe: str
    ) -> list[int]:
        """Insert embeddings that do not exist yet; returns the ids actually inserted."""
        ...

    def get_embeddings(self, logo_ids: Sequence[int]) -> dict[int, np.ndarray]: ...

    def iter_embeddings(self, batch_size: int = 10_000) -> Iterator[tuple[list[int], np.ndarray]]:
        """All embeddings in batches of (logo ids, float32 matrix)."""
        ...

    def changes_since(self, seq: int, limit: int = 10_000) -> list[Change]: ...

    def last_change_seq(self) -> int: ...

    def embedding_count(self) -> int: ...

    # --- neighbours ---------------------------------------------------------------------
    def set_neighbours(self, logo_id: int, logo_ids: Sequence[int], distances: Sequence[float]) -> None: ...

    def set_neighbours_many(self, lists: Sequence[NeighbourList]) -> None:
        """Write every list in one transaction (``NotFoundError`` for an unknown logo: none written)."""
        ...

    def get_neighbours(self, logo_ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...

    # --- operations ---------------------------------------------------------------------
    def ping(self) -> None:
        """Raise ``TransientError`` if the store cannot be reached."""
        ...

    def close(self) -> None: ...
