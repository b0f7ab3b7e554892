"""Queries/s of the embedded index and its nearest peers in *one* process, rounds interleaved.

``python -m bench.ann_side_by_side SAVED_INDEX [n] [data set]``: opens the project's saved index
(built on ``bench.data.dataset(name, n, 1000)``, ``clip`` unless named; built and saved there first
when the directory is missing), builds hnswlib and faiss HNSW on the same vectors, then runs
``ROUNDS`` rounds in which every (system, setting) answers the 1000 queries in turn. On a shared
machine the load changes from minute to minute; interleaving makes the ratios between systems
comparable even when the absolute figures are not. Results: ``bench/results/ann_side_by_side.json``
(``ann_side_by_side_<name>.json`` for another data set).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import ann
from bench.ann_peers import plain_recall
from bench.ann_systems import Faiss, Hnswlib, Project, System, timed
from bench.data import dataset, exact_neighbours

ROUNDS = 5
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    saved, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    data_set = sys.argv[3] if len(sys.argv) > 3 else "clip"
    data = dataset(data_set, n, 1000)
    truth, _ = exact_neighbours(data.vectors, data.queries, 10)
    if not saved.exists():
        index, _ = ann.build(ann.DEFAULT, data.vectors, saved, ann.DEFAULT_EF)
        index.flush()
        index.close()
    systems: list[tuple[System, list[int]]] = [
        (Project(saved, {"connectivity": 16, "expansion_add": 256}), [64, 96, 128]),
        (Hnswlib(16, 128), [64, 128]),
        (Faiss("HNSW32_SQ8", "efSearch", ef_construction=40), [128]),
    ]
    for system, _ in systems:
        system.build(data.vectors, saved)
    seen: dict[tuple[str, int], list[float]] = {}
    found: dict[tuple[str, int], np.ndarray] = {}
    for _ in range(ROUNDS):
        for system, values in systems:
            for value in values:
                system.configure(value)
                found[(system.name, value)], seconds = timed(system, data.queries, 10)
                seen.setdefault((system.name, value), []).append(len(seconds) / float(seconds.sum()))
    base = float(np.median(seen[(systems[0][0].name, 128)]))
    rows: list[dict[str, Any]] = []
    for (name, value), rates in seen.items():
        median = float(np.median(rates))
        rows.append(
            {
                "benchmark": "ann_side_by_side",
                "dataset": data_set,
                "n": n,
                "system": name,
                "value": value,
                "recall_at_10": plain_recall(found[(name, value)], truth),
                "qps_rounds": rates,
                "qps_one_thread": median,
                "ratio_to_project_ef128": median / base,
                "load_average_1m": os.getloadavg()[0],
            }
        )
        print(rows[-1])
    out = "ann_side_by_side.json" if data_set == "clip" else f"ann_side_by_side_{data_set}.json"
    (RESULTS / out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"{time.perf_counter() - started:.0f} s")
