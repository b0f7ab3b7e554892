"""Elasticsearch query policy: recall and latency per ``num_candidates`` and index type against a
real cluster when ``LOGO_ANN_BENCH_ES_URL`` is set; otherwise the records say it was not run."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

from bench.ann import recall_at
from bench.data import Dataset, exact_neighbours

log = logging.getLogger(__name__)
INDEX_TYPES = ("int8_hnsw", "hnsw")
NUM_CANDIDATES = (20, 50, 100, 200, 500)


def run(data: Dataset, limit: int = 100_000) -> list[dict[str, Any]]:
    url = os.environ.get("LOGO_ANN_BENCH_ES_URL", "")
    if not url:
        return [{"benchmark": "es", "skipped": True, "reason": "LOGO_ANN_BENCH_ES_URL is not set"}]
    from common.adapters.elasticsearch_index import ElasticsearchIndex

    vectors = data.vectors[:limit]
    truth, _ = exact_neighbours(vectors, data.queries, 10)
    records = []
    for index_type in INDEX_TYPES:
        for candidates in NUM_CANDIDATES:
            index = ElasticsearchIndex(
                url,
                alias=f"logo-bench-{index_type}",
                dim=vectors.shape[1],
                index_type=index_type,
                num_candidates_min=candidates,
                num_candidates_factor=0.0,
            )
            index.ensure_index()
            if index.count() != len(vectors):
                for start in range(0, len(vectors), 5_000):
                    part = vectors[start : start + 5_000]
                    index.upsert(list(range(start, start + len(part))), part)
                index.flush()
            seconds, found = [], []
            for query in data.queries:
                started = time.perf_counter()
                found.append([n.logo_id for n in index.search(query, 10)])
                seconds.append(time.perf_counter() - started)
            times = np.asarray(seconds)
            records.append(
                {
                    "benchmark": "es",
                    "index_type": index_type,
                    "num_candidates": candidates,
                    "k": 10,
                    "n": len(vectors),
                    "recall_at_10": recall_at(found, truth, 10),
                    "p50_ms": float(np.percentile(times, 50) * 1e3),
                    "p99_ms": float(np.percentile(times, 99) * 1e3),
                }
            )
    return records
