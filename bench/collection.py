"""Robotoff's whole collection on one machine (``collection.json``): import, index, then search.

``python -m bench.collection --logos 5000000 [--dataset clip] [--queries 1000]``:

1. a Robotoff-schema database of N logos on the machine's PostgreSQL (``stack/robotoff_db.py``),
   its embeddings drawn chunk by chunk from one of the benchmark's data sets (``bench.data.plan``,
   never all in memory); while they stream in, the exact top-10 of each query is kept over every
   chunk (the recall's ground truth);
2. ``logo-ann import robotoff`` into a fresh SQLite home, index build included (the configured
   default index), in its own process: the import's and the build's seconds, the process's peak
   RSS (``bench.peak_rss``) and wall time;
3. a fresh process opens that home as a server does and answers the queries one at a time on one
   thread at the default setting: recall@10 against the exact top-10, queries/s (median of the
   passes), and that process's peak RSS.

Each stage's wall time goes in the record with the machine's load average before and after, so a
figure measured beside other work says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench import data
from bench.import_robotoff import _run

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
K = 10
WIDER = (256, 384, 512, 640)  # search beams measured after the default one


class TopK:
    """The exact ``k`` nearest rows (by inner product) of each query, over chunks seen in order."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries = queries
        self.k = k
        self.ids = np.full((len(queries), k), -1, np.int64)
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self.seen = 0

    def add(self, chunk: np.ndarray) -> None:
        scores = self.queries @ chunk.T
        take = min(self.k, len(chunk))
        part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        merged_scores = np.concatenate([self.scores, np.take_along_axis(scores, part, 1)], axis=1)
        merged_ids = np.concatenate([self.ids, part + self.seen], axis=1)
        best = np.argsort(-merged_scores, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(merged_scores, best, 1)
        self.ids = np.take_along_axis(merged_ids, best, 1)
        self.seen += len(chunk)


def watched(chunks: Iterator[np.ndarray], truth: TopK) -> Iterator[np.ndarray]:
    for chunk in chunks:
        truth.add(chunk)
        yield chunk


def load() -> float:
    return round(os.getloadavg()[0], 2)


def build(logos: int, name: str, queries: int, workdir: Path) -> dict[str, Any]:
    """Stages 1 and 2; the queries and their exact neighbours are left in ``workdir``."""
    from stack import robotoff_db
    from stack.pg import scratch_database

    record: dict[str, Any] = {"benchmark": "collection", "dataset": name, "n": logos, "queries": queries}
    home = workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    with scratch_database("bench_collection") as source:
        started, before = time.perf_counter(), load()
        query_vectors, chunks = data.streamed(data.plan(name, logos), queries)
        truth = TopK(query_vectors, K)
        robotoff_db.create_schema(source)
        robotoff_db.fill_synthetic(source, logos, embeddings=watched(chunks, truth))
        record["source"] = {"seconds": round(time.perf_counter() - started, 1), "load": [before, load()]}
        np.save(workdir / "queries.npy", query_vectors)
        np.save(workdir / "truth.npy", truth.ids + 1)  # logo ids are rows + 1 (robotoff_db)
        log.info("Robotoff database of %d logos in %.0f s", logos, record["source"]["seconds"])
        env = dict(os.environ, LOGO_ANN_HOME=str(home))
        before = load()
        argv = ["import", "robotoff", "--database-url", source, "--batch-size", "5000"]
        report, wall = _run(argv, env, timeout=6 * 3600)
    record["import"] = {
        "rows_per_s": report["rows_per_s"],
        "import_s": report["seconds"],
        "index_s": report.get("index_seconds"),
        "indexed": report.get("indexed"),
        "wall_s": round(wall, 1),
        "peak_rss_mb": report["peak_rss_mb"],
        "cpu_s": report.get("cpu_s"),
        "load": [before, load()],
    }
    return record


def search(home: Path, workdir: Path, rounds: int = 3) -> dict[str, Any]:
    """Stage 3, in this (fresh) process: recall@10 and queries/s on one thread."""
    os.environ["LOGO_ANN_HOME"] = str(home)
    from bench.peak_rss import peak_rss_mb
    from common.bootstrap import Container
    from common.embedded_index import PackedIndex
    from common.settings import load_settings

    queries, truth = np.load(workdir / "queries.npy"), np.load(workdir / "truth.npy")
    started = time.perf_counter()
    container = Container(load_settings())
    index = container.index
    opened = time.perf_counter() - started
    before = load()
    recall, qps = measured(index, queries, truth, rounds)
    record = {
        "index": container.settings.index,
        "expansion_search": container.settings.index_expansion_search,
        "expansion_search_at": container.settings.index_expansion_search_at,
        "expansion_search_growth": container.settings.index_expansion_search_growth,
        "expansion_search_narrow": container.settings.index_expansion_search_narrow,
        "beam": index.beam() if isinstance(index, PackedIndex) else None,  # the default, widened at this size
        "narrow_beam": index.narrow_beam() if isinstance(index, PackedIndex) else None,
        "open_s": round(opened, 1),
        "recall_at_10": recall,
        "queries_per_s": qps,
        "peak_rss_mb": peak_rss_mb(),
        "load": [before, load()],
    }
    record["wider_beams"] = wider_beams(index, queries, truth, rounds)
    return record


def wider_beams(index: Any, queries: np.ndarray, truth: np.ndarray, rounds: int) -> list[dict[str, Any]]:
    """Recall@10 and queries/s (median of ``rounds`` passes) at search beams past the default, on
    the same index and queries: what a collection of this size needs for a recall goal. The narrow
    beam (if any) keeps the share of each beam it has of the index's default."""
    from bench.ann import set_expansion_search
    from common.embedded_index import PackedIndex

    if not isinstance(index, PackedIndex):
        return []
    narrow_share = index.expansion_search_narrow / index.params["expansion_search"]
    rows = []
    for ef in WIDER:
        set_expansion_search(index, ef, narrow_share)
        recall, qps = measured(index, queries, truth, rounds)
        narrow = index.expansion_search_narrow
        rows.append(
            {"expansion_search": ef, "expansion_search_narrow": narrow, "recall_at_10": recall, "queries_per_s": qps}
        )
    return rows


def measured(index: Any, queries: np.ndarray, truth: np.ndarray, rounds: int) -> tuple[float, int]:
    """Recall@10 of one pass (which also warms the index) and queries/s, the median of ``rounds``
    passes, each query through ``index.search`` on this thread."""
    found = [[n.logo_id for n in index.search(q, K)] for q in queries]
    recall = float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for q in queries:
            index.search(q, K)
        rates.append(len(queries) / (time.perf_counter() - started))
    return round(recall, 4), round(float(np.median(rates)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logos", type=int, default=5_000_000)
    parser.add_argument("--dataset", choices=data.KNOWN, default="clip")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "logo-ann" / "bench-collection")
    parser.add_argument(
        "--search-again",
        action="store_true",
        help="rerun stage 3 alone on the home the last run left in --workdir (after a change to the search "
        "settings), replacing that record's search part",
    )
    parser.add_argument("--search-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.search_only:
        print(json.dumps(search(args.workdir / "home", args.workdir)))
        return
    path = RESULTS / "collection.json"
    records = json.loads(path.read_text()) if path.exists() else []
    kept = [r for r in records if (r["n"], r["dataset"]) != (args.logos, args.dataset)]
    if args.search_again:
        earlier = [r for r in records if (r["n"], r["dataset"]) == (args.logos, args.dataset)]
        if not earlier or not (args.workdir / "home").is_dir():
            raise SystemExit(f"no {args.logos}-logo {args.dataset} run to search again in {args.workdir}: run it whole")
        record = earlier[-1]
        record.setdefault("search_at_build", record["search"])  # what the build's own run measured, kept
        record["search_date"] = time.strftime("%Y-%m-%d %H:%M")
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        record = build(args.logos, args.dataset, args.queries, args.workdir)
        record.update(date=time.strftime("%Y-%m-%d %H:%M"), cpus=os.cpu_count())
    probe = [sys.executable, "-m", "bench.collection", "--search-only", "--workdir", str(args.workdir)]
    done = subprocess.run(probe, capture_output=True, text=True, check=True, cwd=REPO)
    record["search"] = json.loads(done.stdout.splitlines()[-1])
    path.write_text(json.dumps([*kept, record], indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
