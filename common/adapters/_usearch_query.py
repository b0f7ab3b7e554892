"""One query against a usearch graph with as little per-query work as possible.

A query at the default setting spends about a millisecond in usearch; the Python around it
(argument checks, ``Matches`` objects, numpy sorting of ten results) cost another 0.1-0.3 ms.
``raw_search`` calls the compiled search directly on one thread and ``ranked`` orders the
results: in plain Python for a few (ten items: 14 us against 19 us with numpy), with numpy for
more (a hundred: about 90 us against 115-230 us, most of it the ``Neighbour`` objects). Both
orders and distances are the same, to the bit (``tests/unit/test_usearch_index.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import common.adapters  # noqa: F401  (imports onnxruntime before usearch)
from common.domain import Neighbour, cosine_to_distance

from usearch.compiled import ScalarKind  # isort: skip  (after common.adapters)
from usearch.index import Index  # isort: skip


def raw_search(graph: Index, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys (int64) and usearch distances (1 - cosine) of up to ``count`` neighbours of one query."""
    compiled: Any = getattr(graph, "_compiled", None)
    search_many = getattr(compiled, "search_many", None)
    if search_many is None:  # another usearch layout: the public, slower path
        found: Any = graph.search(query, count, threads=1)
        return np.asarray(found.keys, np.int64).reshape(-1), np.asarray(found.distances, np.float64).reshape(-1)
    keys, distances, counts, _, _ = search_many(
        query.reshape(1, -1), count=count, exact=False, threads=1, dtype=ScalarKind.Unknown
    )
    n = int(counts[0])
    return keys[0, :n].astype(np.int64), distances[0, :n].astype(np.float64)


NUMPY_FROM = 32  # candidates from which ``ranked`` sorts with numpy


def ranked(keys: np.ndarray, cosines: np.ndarray, k: int, exclude: int | None) -> list[Neighbour]:
    """The ``k`` best of int64 ``keys`` by float64 ``cosines`` (ties: smaller id first), without
    ``exclude``, as Robotoff distances."""
    if len(keys) < NUMPY_FROM:
        return ranked_few(keys.tolist(), cosines.tolist(), k, exclude)
    if exclude is not None:
        keep = keys != exclude
        keys, cosines = keys[keep], cosines[keep]
    order = np.lexsort((keys, -cosines))[:k]
    distances = np.clip((1.0 - cosines[order]) / 2.0, 0.0, 1.0)  # ``cosine_to_distance``, elementwise
    return [Neighbour(key, distance) for key, distance in zip(keys[order].tolist(), distances.tolist(), strict=True)]


def ranked_few(keys: Sequence[int], cosines: Sequence[float], k: int, exclude: int | None) -> list[Neighbour]:
    """``ranked`` in plain Python (faster for a few candidates)."""
    order = sorted((-cosine, key) for key, cosine in zip(keys, cosines, strict=True) if key != exclude)
    return [Neighbour(key, cosine_to_distance(-negative)) for negative, key in order[:k]]
