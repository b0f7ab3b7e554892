"""The packed graph built on one thread and on every core, side by side (``ann_parallel_build.json``).

Same vectors, same default setting, staged 200,000 rows at a time and linked as one batch (as a
rebuild links the store's pages); for each build: wall and process CPU
seconds, the load average, and recall@10 against exact search at each search beam (re-ranked, as
``PackedIndex.search`` does). ``python -m bench.ann_parallel --n 200000 --dataset ties``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import ann
from bench.data import DATASETS, dataset, exact_neighbours
from common.embedded_index._int8_codec import Int8Codec
from common.embedded_index._packed_hnsw import PackedGraph
from common.embedded_index.packed_index import RERANK

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
STEP = 200_000


def run(name: str, n: int, queries: int, expansions: tuple[int, ...] = (64, 96, 128)) -> list[dict[str, Any]]:
    data = dataset(name, n, queries)
    truth, _ = exact_neighbours(data.vectors, data.queries, 10)
    codec = Int8Codec(data.vectors.shape[1])
    codes, residuals = codec.encode_refined(data.vectors)
    query_codes, turned = codec.encode(data.queries), codec.rotate(data.queries)
    setting, _ = ann.configured()
    records = []
    for threads in (len(os.sched_getaffinity(0)), 1):
        graph = PackedGraph(
            codes.shape[1],
            setting.connectivity,
            setting.connectivity_base,
            setting.expansion_add,
            threads=threads,
            expansion_add_seeded=setting.expansion_add_seeded,
        )
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        graph.reserve(n)
        for start in range(0, n, STEP):  # staged page by page and linked at once, as a rebuild does
            stop = min(n, start + STEP)
            graph.stage(np.arange(start, stop), codes[start:stop], residuals[start:stop])
        graph.link_staged()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for ef in expansions:
            slots, _ = graph.search_refined(query_codes, turned, 10, RERANK, ef)
            record = {
                "benchmark": "ann_parallel_build",
                "dataset": name,
                "n": n,
                "threads": threads,
                "setting": setting.label(),
                "build_s": wall,
                "build_cpu_s": cpu,
                "load_at_start": load,
                "load_at_end": os.getloadavg()[0],
                "expansion_search": ef,
                "rerank": RERANK,
                "recall_at_10": ann.recall_at(slots.tolist(), truth, 10),
            }
            log.info("%s", record)
            records.append(record)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dataset", default="clip", choices=DATASETS)
    parser.add_argument("--out", type=Path, default=RESULTS / "ann_parallel_build.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    label = f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC"
    records = [{**r, "run": label} for r in run(args.dataset, args.n, args.queries)]
    kept = json.loads(args.out.read_text()) if args.out.exists() else []
    kept = [r for r in kept if (r["n"], r["dataset"]) != (args.n, args.dataset)]
    args.out.write_text(json.dumps(kept + records, indent=1) + "\n")


if __name__ == "__main__":
    main()
