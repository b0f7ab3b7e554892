"""The approximate-nearest-neighbour index over L2-normalised embeddings.

Scores are cosine similarities; callers turn them into Robotoff's distance
``(1 - cos) / 2``. The index is derived data: PostgreSQL/SQLite is the source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from common.domain import Neighbour

if TYPE_CHECKING:
    from common.ports.metadata_store import MetadataStore


class VectorIndex(Protocol):
    @property
    def dim(self) -> int:
        """The length of the vectors the index holds (and of a query vector)."""
        ...

    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Insert or replace the vectors (``float32 [n, dim]``, normalised) under these ids."""
        ...

    def delete(self, ids: Iterable[int]) -> None: ...

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        """The ``k`` nearest ids by ascending distance, ``exclude`` never among them."""
        ...

    def ids(self) -> set[int]:
        """Every id in the index (for reconciliation)."""
        ...

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        """Stored vectors of those ids that exist (for reconciliation of stale vectors)."""
        ...

    def count(self) -> int: ...

    def flush(self) -> None:
        """Make writes durable/visible (save to disk, or refresh)."""
        ...

    def health(self) -> Mapping[str, Any]: ...


@runtime_checkable
class DerivedIndex(Protocol):
    """An index kept in local files and caught up from the store's change log (embedded usearch).

    Several processes may share the files: ``reload_if_changed`` picks up another process's
    saved generation, ``catch_up`` replays the store's changes the files do not hold yet.
    """

    def reload_if_changed(self) -> bool: ...

    def catch_up(self, store: MetadataStore) -> int: ...


@runtime_checkable
class BatchSearch(Protocol):
    """An index that searches many stored logos' neighbours in one call (the embedded packed index).

    ``search_many`` returns, per row of ``vectors``, what ``search(vectors[i], k, exclude[i])``
    returns, as arrays: ids (int64) and distances (float64), best first. Callers fall back to
    ``search`` one query at a time for an index without it.
    """

    def search_many(
        self, vectors: np.ndarray, k: int, exclude: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray]]: ...
