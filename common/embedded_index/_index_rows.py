"""What the embedded indexes share on the way in and out: checked rows, and ranked results.

``ranked`` orders the results: in plain Python for a few (ten items: 14 us against 19 us with
numpy), with numpy for more (a hundred: about 90 us against 115-230 us, most of it the
``Neighbour`` objects). Both orders and distances are the same, to the bit
(``tests/unit/test_usearch_index.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.domain import Neighbour, cosine_to_distance
from common.errors import ConfigError, InternalError


def checked_rows(ids: Sequence[int], vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 keys and float32 ``[n, dim]`` rows; a repeated id keeps its last vector."""
    keys = np.asarray(list(ids), dtype=np.int64).reshape(-1)
    if not len(keys):
        return keys, np.zeros((0, dim), np.float32)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), -1)
    if matrix.shape[1] != dim:
        raise ConfigError(f"vectors have {matrix.shape[1]} dimensions, the index {dim}: reindex after a model change")
    if (keys < 0).any():
        raise InternalError("logo ids must be non-negative")
    _, last = np.unique(keys[::-1], return_index=True)
    keep = np.sort(len(keys) - 1 - last)
    return keys[keep], matrix[keep]


NUMPY_FROM = 32  # candidates from which ``ranked`` sorts with numpy


def ranked(keys: np.ndarray, cosines: np.ndarray, k: int, exclude: int | None) -> list[Neighbour]:
    """The ``k`` best of int64 ``keys`` by float64 ``cosines`` (ties: smaller id first), without
    ``exclude``, as Robotoff distances."""
    if len(keys) < NUMPY_FROM:
        return ranked_few(keys.tolist(), cosines.tolist(), k, exclude)
    ids, distances = ranked_arrays(keys, cosines, k, exclude)
    return [Neighbour(key, distance) for key, distance in zip(ids.tolist(), distances.tolist(), strict=True)]


def ranked_arrays(keys: np.ndarray, cosines: np.ndarray, k: int, exclude: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``ranked`` as arrays, ids (int64) and distances (float64), for callers that keep many
    results (no ``Neighbour`` objects)."""
    if exclude is not None:
        keep = keys != exclude
        keys, cosines = keys[keep], cosines[keep]
    order = np.lexsort((keys, -cosines))[:k]
    distances: np.ndarray = np.clip((1.0 - cosines[order]) / 2.0, 0.0, 1.0)  # ``cosine_to_distance``, elementwise
    ids: np.ndarray = keys[order]
    return ids, distances


def ranked_few(keys: Sequence[int], cosines: Sequence[float], k: int, exclude: int | None) -> list[Neighbour]:
    """``ranked`` in plain Python (faster for a few candidates)."""
    order = sorted((-cosine, key) for key, cosine in zip(keys, cosines, strict=True) if key != exclude)
    return [Neighbour(key, cosine_to_distance(-negative)) for negative, key in order[:k]]
