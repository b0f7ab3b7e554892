"""The embedded index beside the ANN libraries people compare it with, on the same data in the same run.

Each system is built and queried in its own child process (``bench.ann_systems``) with one query
thread, at several search settings: recall@10 (plain, and with ties: a returned neighbour whose
true cosine is within ``TIE`` of the true 10th counts as correct), queries/s (median of rounds,
settings interleaved), p50/p99, resident bytes per vector (growth of the child's ``RssAnon``
across the build, the stored vectors being memory-mapped) and build time. The exact baseline is
timed with its BLAS threads stated (``threadpoolctl``), on all cores and on one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import Dataset, exact_neighbours

log = logging.getLogger(__name__)
TIE = 1e-4
K = 10


def peer_specs(n: int, saved: Path, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every system with its search settings; faiss's IVF gets ``4·sqrt(n)`` lists (4096 at 1M).
    ``name``: what ``run``'s ``skip`` names it by."""
    lists = 1 << round(math.log2(4 * math.sqrt(n)))
    efs = [64, 128, 256, 512]
    return [
        {
            "name": "packed",
            "kind": "project",
            "saved": str(saved),
            "params": params,
            "values": [64, 128, 160, 192, 256, 384, 512],
        },
        {  # the usearch adapter over the same codes, the project's previous default
            "name": "usearch-adapter",
            "kind": "project",
            "saved": None,
            "params": {"engine": "usearch", "connectivity": 16, "connectivity_base": 32, "expansion_add": 256},
            "values": [128, 256],
        },
        {
            "name": "usearch",
            "kind": "usearch-cast",
            "args": {"connectivity": 16, "expansion_add": 128},
            "values": [128, 256, 512],
        },
        {"name": "hnswlib", "kind": "hnswlib", "args": {"m": 16, "ef_construction": 128}, "values": [32, 64, 128, 256]},
        {  # at the packed index's own build beam, so that neither is compared with a weaker build
            "name": "hnswlib-256",
            "kind": "hnswlib",
            "args": {"m": 16, "ef_construction": 256},
            "values": [64, 128, 256, 512],
        },
        {
            "name": "faiss-hnsw",
            "kind": "faiss",
            "args": {"factory": "HNSW32_SQ8", "knob": "efSearch", "ef_construction": 40},
            "values": efs,
        },
        {  # one build: the inverted file alone, then wrapped in a float32 re-ranker
            "name": "faiss-ivf",
            "kind": "faiss",
            "args": {"factory": f"IVF{lists},SQ8", "knob": "nprobe", "refine": 4},
            "values": [64, 128, 256],
        },
    ]


def recall_with_ties(found: np.ndarray, queries: np.ndarray, vectors: np.ndarray, tenth: np.ndarray) -> float:
    """Mean over queries of (returned ids whose true cosine ≥ true 10th − ``TIE``) / k, each id once."""
    hits = 0
    for i, row in enumerate(found):
        ids = np.unique(row[row >= 0])
        if len(ids):
            cosines = vectors[np.sort(ids)] @ queries[i]
            hits += min(K, int((cosines >= tenth[i] - TIE).sum()))
    return hits / (K * len(found))


def plain_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of (returned ids among the true ``K``) / k: hits / (k · queries), divided once
    as ``recall_with_ties`` does, so equal hit counts give equal floats (mean-then-divide rounds up an
    ulp for 298 of 300, and a row then seemed to lose recall by counting ties)."""
    hits = sum(len(set(row.tolist()) & set(truth[i, :K].tolist())) for i, row in enumerate(found))
    return hits / (K * len(found))


def exact_baseline(data: Dataset) -> list[dict[str, Any]]:
    """Exact top-10 (numpy matmul + partial sort, 65,536-row chunks), batched, at 1 and all BLAS threads."""
    from threadpoolctl import threadpool_info, threadpool_limits

    records = []
    for threads in sorted({1, os.cpu_count() or 1}):
        with threadpool_limits(limits=threads, user_api="blas"):
            blas = [
                {k: info.get(k) for k in ("internal_api", "version", "threading_layer", "num_threads")}
                for info in threadpool_info()
                if info.get("user_api") == "blas"
            ]
            started = time.perf_counter()
            exact_neighbours(data.vectors, data.queries, K)
            seconds = time.perf_counter() - started
        records.append(
            {
                "benchmark": "ann_peers_exact",
                "n": len(data.vectors),
                "queries": len(data.queries),
                "blas_threads": threads,
                "blas": blas,
                "load_average_1m": os.getloadavg()[0],
                "qps_batched": len(data.queries) / seconds,
            }
        )
    return records


def _child(work: Path, spec: dict[str, Any], rounds: int) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "spec.json").write_text(json.dumps({**spec, "rounds": rounds}))
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    subprocess.run([sys.executable, "-m", "bench.ann_systems", str(work)], check=True, env=env)
    results: list[dict[str, Any]] = json.loads((work / "result.json").read_text())
    return results


def run(
    data: Dataset,
    saved: Path,
    params: dict[str, Any],
    build_s: float,
    workdir: Path,
    rounds: int = 3,
    skip: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Records per system and setting. ``saved``: the embedded index ``bench.ann`` built and saved
    on this data (its ``build_s`` is taken from there; the child only opens it, as a server does).
    ``skip``: ``peer_specs`` names left out (the usearch adapter's build takes 30 min at 1M)."""
    base = workdir / "peers"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    np.save(base / "vectors.npy", data.vectors)
    np.save(base / "queries.npy", data.queries)
    truth, cosines = exact_neighbours(data.vectors, data.queries, K)
    records = exact_baseline(data)
    n = len(data.vectors)
    for number, spec in enumerate(s for s in peer_specs(n, saved, params) if s["name"] not in skip):
        work = base / f"system-{number}"
        for result in _child(work, spec, rounds):
            log.info(
                "%s at %d: %.0f s, %.0f B/vector",
                result["system"],
                n,
                result["build_s"],
                result["resident_bytes_per_vector"],
            )
            for setting in result.pop("settings"):
                found = np.load(work / setting.pop("found"))
                record = {
                    "benchmark": "ann_peers",
                    "n": n,
                    "queries": len(data.queries),
                    **result,
                    **setting,
                    "recall_at_10": plain_recall(found, truth),
                    "recall_at_10_with_ties": recall_with_ties(found, data.queries, data.vectors, cosines[:, K - 1]),
                }
                if spec["kind"] == "project" and spec.get("saved"):
                    record["index_load_s"], record["build_s"] = record["build_s"], build_s
                records.append(record)
    shutil.rmtree(base, ignore_errors=True)
    return records


def fastest(records: list[dict[str, Any]], n: int, recall: float, key: str = "recall_at_10") -> dict[str, Any] | None:
    """The row with the most queries/s among those at ``n`` reaching ``recall``."""
    rows = [r for r in records if r.get("benchmark") == "ann_peers" and r["n"] == n and r[key] >= recall]
    return max(rows, key=lambda r: r["qps_one_thread"]) if rows else None
