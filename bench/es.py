"""Elasticsearch sizing figures on a real node (``tests/es_node``), beside the embedded index, on
the same vectors and queries: what a cloud operator sizes a cluster with.

Per index type (``int8_hnsw``, the production default, and float ``hnsw``): bulk indexing
documents/s through the adapter (``BULK_DOCS`` per request, one client thread, until searchable);
the JVM heap the index holds (heap used after a full GC, loaded minus empty, per vector); the disk
it takes (primary store, per vector); kNN queries/s on one client thread and recall@10 against
exact search for each ``num_candidates``, and the smallest ``num_candidates`` reaching recall@10
0.95 and 0.99 (``None`` when no setting does). The embedded default index is built and swept the
same way (``expansion_search`` in place of ``num_candidates``).

    python -m bench.es [--n 100000] [--queries 500]     (writes bench/results/es.json)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench import ann
from bench.data import Dataset, exact_neighbours, generate

log = logging.getLogger(__name__)
INDEX_TYPES = ("int8_hnsw", "hnsw")
NUM_CANDIDATES = (10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10_000)
EXPANSIONS = (16, 32, 64, 128, 256, 512, 1024)
TARGETS = (0.95, 0.99)
CHUNK = 5_000  # vectors per adapter call (the adapter splits them into bulk requests of BULK_DOCS)
RESULTS = Path(__file__).resolve().parent / "results"


def run_label() -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC (load {os.getloadavg()[0]:.1f} at the start)"


def sweep(search: Callable[[np.ndarray], list[int]], queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Recall@10 and one-thread queries/s of ``search`` over ``queries`` (after 20 warm-up queries)."""
    for query in queries[:20]:
        search(query)
    found, seconds = [], np.empty(len(queries))
    for i, query in enumerate(queries):
        started = time.perf_counter()
        found.append(search(query))
        seconds[i] = time.perf_counter() - started
    return {
        "recall_at_10": ann.recall_at(found, truth, 10),
        "qps_one_thread": len(queries) / float(seconds.sum()),
        "p50_ms": float(np.percentile(seconds, 50) * 1e3),
        "p99_ms": float(np.percentile(seconds, 99) * 1e3),
    }


def targets(points: Sequence[dict[str, Any]], knob: str) -> list[dict[str, Any]]:
    """For each recall target, the cheapest point of the sweep reaching it (or that none does)."""
    out = []
    for target in TARGETS:
        reached = [p for p in points if p["recall_at_10"] >= target]
        best = min(reached, key=lambda p: p[knob]) if reached else None
        out.append(
            {
                "recall_target": target,
                knob: best[knob] if best else None,
                "qps_one_thread": best["qps_one_thread"] if best else None,
                "recall_at_10": best["recall_at_10"] if best else max(p["recall_at_10"] for p in points),
            }
        )
    return out


def plateau(points: Sequence[dict[str, Any]], steps: int = 2, gain: float = 0.002) -> bool:
    """Recall has stopped rising: the last ``steps`` doublings of the knob gained under ``gain``."""
    recalls = [p["recall_at_10"] for p in points]
    return len(recalls) > steps and recalls[-1] - recalls[-1 - steps] < gain


def disk_usage(url: str, index: str, n: int) -> dict[str, float]:
    """Per vector, on disk: the kNN structures of ``embedding`` (raw floats, int8 codes, graph) and
    the ``_source`` copy the documents keep (``_disk_usage``, which reads every file)."""
    body = requests.post(f"{url}/{index}/_disk_usage?run_expensive_tasks=true", timeout=600).json()[index]
    fields = body["fields"]
    return {
        "knn_vectors_bytes_per_vector": fields["embedding"]["knn_vectors_in_bytes"] / n,
        "source_bytes_per_vector": fields["_source"]["stored_fields_in_bytes"] / n,
    }


def heap_used(url: str, pid: int) -> int:
    """Bytes of JVM heap in use just after a full GC (``jcmd GC.run``)."""
    subprocess.run(["jcmd", str(pid), "GC.run"], check=True, capture_output=True)
    time.sleep(1.0)
    stats = requests.get(f"{url}/_nodes/_local/stats/jvm", timeout=30).json()
    (node,) = stats["nodes"].values()
    return int(node["jvm"]["mem"]["heap_used_in_bytes"])


def elasticsearch(
    vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, index_type: str, home: Path, candidates: Sequence[int]
) -> list[dict[str, Any]]:
    """Index ``vectors`` on a fresh node, then sweep ``num_candidates``."""
    from stack.elasticsearch_node import VERSION, ElasticsearchNode

    shutil.rmtree(home, ignore_errors=True)
    node = ElasticsearchNode(home, heap="1g").start()
    try:
        base = {
            "benchmark": "es",
            "system": "elasticsearch",
            "es_version": VERSION,
            "index_type": index_type,
            "n": len(vectors),
            "dim": vectors.shape[1],
            "queries": len(queries),
            "shards": 1,
            "heap": node.heap,
        }
        index, loaded = load(node, vectors, index_type)
        points = []
        for value in candidates:
            index._candidates = (value, 0.0)  # noqa: SLF001 - num_candidates = value for k = 10
            point = {
                "num_candidates": value,
                **sweep(lambda q: [n.logo_id for n in index.search(q, 10)], queries, truth),
            }
            points.append(point)
            log.info("es %s num_candidates=%d: %s", index_type, value, point)
            if point["recall_at_10"] >= max(TARGETS) or plateau(points):
                break
        return [
            {**base, "kind": "index", **loaded},
            *({**base, "kind": "knn", "k": 10, **p} for p in points),
            *({**base, "kind": "target", **t} for t in targets(points, "num_candidates")),
        ]
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)


def load(node: Any, vectors: np.ndarray, index_type: str) -> tuple[Any, dict[str, Any]]:
    """Bulk ``vectors`` through the adapter until searchable; the index and its load figures."""
    from common.adapters.elasticsearch_index import BULK_DOCS, ElasticsearchIndex

    index = ElasticsearchIndex(node.url, alias="logo-bench", dim=vectors.shape[1], index_type=index_type, timeout=300)
    index.ensure_index()
    empty_heap = heap_used(node.url, node.proc.pid)
    started = time.perf_counter()
    for start in range(0, len(vectors), CHUNK):
        part = vectors[start : start + CHUNK]
        index.upsert(list(range(start, start + len(part))), part)
    index.flush()
    bulk_s = time.perf_counter() - started
    n = index.count()
    assert n == len(vectors)
    loaded_heap = heap_used(node.url, node.proc.pid)
    stats = requests.get(f"{node.url}/{index.alias}/_stats/store,segments", timeout=30).json()["_all"]["primaries"]
    return index, {
        "bulk_docs_per_request": BULK_DOCS,
        "bulk_s": bulk_s,
        "bulk_docs_per_s": n / bulk_s,
        "segments": stats["segments"]["count"],
        "heap_bytes_per_vector": (loaded_heap - empty_heap) / n,
        "disk_bytes_per_vector": stats["store"]["size_in_bytes"] / n,
        **disk_usage(node.url, index.index, n),
    }


def embedded(data: Dataset, truth: np.ndarray, workdir: Path, expansions: Sequence[int]) -> list[dict[str, Any]]:
    """The embedded default index on the same vectors and queries."""
    setting = ann.DEFAULT
    index, build_s = ann.build(setting, data.vectors, workdir / "embedded", ann.DEFAULT_EF)
    base = {
        "benchmark": "es",
        "system": "embedded",
        "setting": setting.label(),
        "n": len(data.vectors),
        "dim": data.vectors.shape[1],
        "queries": len(data.queries),
    }
    records = [
        {
            **base,
            "kind": "index",
            "bulk_docs_per_s": len(data.vectors) / build_s,
            "bulk_s": build_s,
            "heap_bytes_per_vector": ann.resident_bytes(index) / len(data.vectors),
        }
    ]
    points = []
    for value in expansions:
        ann.set_expansion_search(index, value)
        points.append(
            {
                "expansion_search": value,
                **sweep(lambda q: [n.logo_id for n in index.search(q, 10)], data.queries, truth),
            }
        )
    records += [{**base, "kind": "knn", "k": 10, **p} for p in points]
    records += [{**base, "kind": "target", **t} for t in targets(points, "expansion_search")]
    shutil.rmtree(workdir / "embedded", ignore_errors=True)
    return records


def run(
    data: Dataset,
    workdir: Path = RESULTS / "tmp-es",
    limit: int = 100_000,
    index_types: Sequence[str] = INDEX_TYPES,
    candidates: Sequence[int] = NUM_CANDIDATES,
    expansions: Sequence[int] = EXPANSIONS,
) -> list[dict[str, Any]]:
    """Every record of the stage on the first ``limit`` vectors of ``data``."""
    data = Dataset(data.vectors[:limit], data.queries, data.cluster_of[:limit])
    truth, _ = exact_neighbours(data.vectors, data.queries, 10)
    label = run_label()
    records = embedded(data, truth, workdir, expansions)
    for index_type in index_types:
        records += elasticsearch(data.vectors, data.queries, truth, index_type, workdir / "es-node", candidates)
    for record in records:
        record["run"] = label
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS / "es.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    workdir = args.out.parent / "tmp-es"
    records = run(generate(args.n, args.queries), workdir, args.n)
    shutil.rmtree(workdir, ignore_errors=True)
    for record in records:
        record.setdefault("mode", "full")
    args.out.write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
