"""Crops per second of an embedder at each batch size, whatever runs it (onnxruntime, Triton, a GPU)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def batch_throughput(
    run_batch: Callable[[np.ndarray], object], sizes: list[int], seconds_per_size: float, **labels: Any
) -> list[dict[str, Any]]:
    """Time ``run_batch`` on random ``[size, 3, 224, 224]`` batches, one warm-up call per size."""
    rng = np.random.default_rng(0)
    records = []
    for size in sizes:
        batch = rng.standard_normal((size, 3, 224, 224), dtype=np.float32)
        run_batch(batch)
        runs, started = 0, time.perf_counter()
        while runs == 0 or time.perf_counter() - started < seconds_per_size:
            run_batch(batch)
            runs += 1
        elapsed = time.perf_counter() - started
        records.append(
            {
                **labels,
                "batch_size": size,
                "runs": runs,
                "crops_per_s": runs * size / elapsed,
                "ms_per_batch": elapsed / runs * 1e3,
            }
        )
    return records
