"""Every ANN system on both of the benchmark's data sets, side by side (``ann_datasets.json``).

``bench.data.DATASETS``: ``clip`` (the CLIP-like vectors of every other stage) and ``ties`` (a
flatter spectrum, far larger and tighter near-duplicate clusters: a query's 10th and 11th
neighbours are often within 1e-4). On each, in one run: the data's neighbour profile, the embedded
index at its default setting over a sweep of search beams (``bench.ann``, with the recall of exact
search over its int8 codes), then every peer (``bench.ann_peers``: the index reopened as a server
does, hnswlib, faiss HNSW and IVF with re-rank, usearch) in its own process. ``table`` says, per data
set and recall goal, each system's fastest setting reaching it and how it compares with the
embedded index. ``python -m bench.ann_datasets --n 200000`` replaces the records of that size.
``--packed-only`` reruns the embedded index alone (after a change to it) and keeps the other
systems' records of that size and data set from the earlier run: they do not depend on this
project's code, and their rows say when they were measured (``run``). ``--datasets tight``
(``bench.data.HELD_OUT``) measures it on a third set no setting of it was chosen on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import ann, ann_peers
from bench.data import DATASETS, KNOWN, dataset, exact_neighbours, neighbour_profile, spectrum_slope

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
GOALS = (0.99, 0.98)
EXPANSIONS = (64, 96, 128, 144, 160, 192, 256)
PACKED = "logo-ann packed"  # how the embedded index's peer records name it


def profile(name: str, vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """The data set's neighbour profile and how often the 10th and 11th neighbours nearly tie."""
    _, cosines = exact_neighbours(vectors, queries, 11)
    gap = cosines[:, 9] - cosines[:, 10]
    return {
        "benchmark": "ann_data",
        "dataset": name,
        "n": len(vectors),
        **neighbour_profile(vectors),
        "spectrum_slope": spectrum_slope(vectors),
        "gap_10_11_median": float(np.median(gap)),
        "share_gap_10_11_below_1e-4": float(np.mean(gap < 1e-4)),
        "share_gap_10_11_below_1e-3": float(np.mean(gap < 1e-3)),
    }


def run(
    n: int,
    queries: int,
    workdir: Path,
    rounds: int = 3,
    names: tuple[str, ...] = DATASETS,
    skip: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Records for each data set: its profile, the embedded index's sweep, every peer."""
    default, default_ef = ann.configured()
    records: list[dict[str, Any]] = []
    for name in names:
        started = time.perf_counter()
        data = dataset(name, n, queries)
        labelled: list[dict[str, Any]] = [profile(name, data.vectors, data.queries)]
        keep = workdir / f"index-{name}"
        labelled += ann.run(data, (default,), EXPANSIONS, workdir, default_ef, default, keep)
        build_s = next(r["build_s"] for r in labelled if r.get("benchmark") == "ann")
        knobs = (
            "engine",
            "connectivity",
            "connectivity_base",
            "expansion_add",
            "expansion_add_seeded",
            "narrow_share",
            "near_tie_gap",
        )
        params = {k: getattr(default, k) for k in knobs}
        labelled += ann_peers.run(data, keep, params, build_s, workdir, rounds, skip)
        shutil.rmtree(keep, ignore_errors=True)
        for record in labelled:
            record["dataset"] = name
            record["load_at_end"] = os.getloadavg()[0]
        records += labelled
        log.info("data set %s at %d: %.0f s", name, n, time.perf_counter() - started)
    return records


def table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per data set, size and recall goal: each system's fastest setting reaching it, and its
    queries/s against the embedded index's (``ratio_to_packed`` above 1: faster than it)."""
    rows: list[dict[str, Any]] = []
    peers = [r for r in records if r.get("benchmark") == "ann_peers"]
    for name, n in sorted({(r["dataset"], r["n"]) for r in peers}):
        for goal in GOALS:
            best: dict[str, dict[str, Any]] = {}
            for r in peers:
                if r["dataset"] == name and r["n"] == n and r["recall_at_10"] >= goal:
                    if r["system"] not in best or r["qps_one_thread"] > best[r["system"]]["qps_one_thread"]:
                        best[r["system"]] = r
            packed = next((r for s, r in best.items() if s.startswith(PACKED)), None)
            for system, r in sorted(best.items(), key=lambda item: -item[1]["qps_one_thread"]):
                rows.append({
                    "dataset": name,
                    "n": n,
                    "recall_goal": goal,
                    "system": system,
                    "setting": r.get("setting") or f"{r.get('knob')}={r.get('value')}",
                    "recall_at_10": r["recall_at_10"],
                    "qps_one_thread": r["qps_one_thread"],
                    "resident_bytes_per_vector": r.get("resident_bytes_per_vector"),
                    "ratio_to_packed": r["qps_one_thread"] / packed["qps_one_thread"] if packed else None,
                })  # fmt: skip
    return rows


def with_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` (without any earlier table) followed by their ``table`` rows."""
    kept = [r for r in records if r.get("benchmark") != "ann_datasets_table"]
    return kept + [{"benchmark": "ann_datasets_table", **row} for row in table(kept)]


def replaced(record: dict[str, Any], n: int, names: tuple[str, ...], rerun: frozenset[str] | None) -> bool:
    """Whether a record on file is replaced by a run at ``n`` on ``names``: every record of that
    size and data set when every peer ran (``rerun`` None); after a run that left peers out, all
    but the records of the peers it did not measure (``rerun``: the systems it measured)."""
    if record.get("n") != n or record.get("dataset") not in names:
        return False
    if rerun is None or record.get("benchmark") != "ann_peers" or record.get("system") in rerun:
        return True
    # the embedded index's name carries its setting: a rerun of it replaces it under any earlier name
    return str(record.get("system")).startswith(PACKED) and any(s.startswith(PACKED) for s in rerun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(KNOWN)}")
    parser.add_argument("--skip", default="", help="peers left out, comma-separated (bench.ann_peers.peer_specs names)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ann_datasets.json")
    parser.add_argument("--packed-only", action="store_true", help="rerun this index, keep the peers' records")
    args = parser.parse_args()
    names = tuple(args.datasets.split(","))
    if unknown := [name for name in names if name not in KNOWN]:
        parser.error(f"unknown data set {', '.join(unknown)}: choose among {', '.join(KNOWN)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workdir = RESULTS / "tmp-ann-datasets"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    label = f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC (load {os.getloadavg()[0]:.1f} at the start)"
    skip = set(filter(None, args.skip.split(",")))
    if args.packed_only:
        skip |= {spec["name"] for spec in ann_peers.peer_specs(args.n, workdir, {}) if spec["name"] != "packed"}
    records = run(args.n, args.queries, workdir, args.rounds, names, frozenset(skip))
    shutil.rmtree(workdir, ignore_errors=True)
    for record in records:
        record["run"] = label
    kept = []
    rerun = frozenset(str(r["system"]) for r in records if r.get("benchmark") == "ann_peers") if skip else None
    if args.out.exists():
        kept = [r for r in json.loads(args.out.read_text()) if not replaced(r, args.n, names, rerun)]
    everything = with_table(kept + records)
    args.out.write_text(json.dumps(everything, indent=1) + "\n")
    for row in everything:
        if row["benchmark"] == "ann_datasets_table":
            log.info("%s", row)


if __name__ == "__main__":
    main()
