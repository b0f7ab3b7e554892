"""One query against a usearch graph with as little per-query work as possible.

A query at the default setting spends about a millisecond in usearch; the Python around it
(argument checks, ``Matches`` objects, numpy sorting of ten results) cost another 0.1-0.3 ms.
``raw_search`` calls the compiled search directly on one thread; ``_index_rows.ranked`` orders
the results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime  # noqa: F401  (before usearch: see common/embedded_index/__init__.py)

from usearch.compiled import ScalarKind  # isort: skip  (after onnxruntime)
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
