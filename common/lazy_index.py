"""A ``VectorIndex`` built on first use (the composition root hands it to the detect use case)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from common.domain import Neighbour
from common.ports.vector_index import VectorIndex


class LazyIndex:
    """A ``VectorIndex`` that builds the index (``index()``) only when a use case really touches it
    (detect rarely does: only to retire a replaced or deleted image's logos)."""

    def __init__(self, index: Callable[[], VectorIndex]) -> None:
        self._index = index

    @property
    def dim(self) -> int:
        return self._index().dim

    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        self._index().upsert(ids, vectors)

    def delete(self, ids: Iterable[int]) -> None:
        self._index().delete(ids)

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        return self._index().search(vector, k, exclude)

    def ids(self) -> set[int]:
        return self._index().ids()

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        return self._index().get_vectors(ids)

    def count(self) -> int:
        return self._index().count()

    def flush(self) -> None:
        self._index().flush()

    def health(self) -> Mapping[str, Any]:
        return self._index().health()
