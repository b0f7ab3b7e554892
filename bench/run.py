"""``python -m bench.run --quick|--full``: every benchmark, results under ``bench/results/``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench import (
    ann,
    ann_datasets,
    ann_peers,
    annotation,
    api,
    crop,
    es,
    import_robotoff,
    pipeline,
    propagation,
    triton,
    triton_input,
)
from bench.data import generate, neighbour_profile, spectrum_slope
from bench.gpu import measure as gpu_measure
from bench.models import ensure
from bench.summary import write_summary

log = logging.getLogger("bench")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Plan:
    mode: str
    sizes: tuple[int, ...]
    queries: int
    sweep_size: int  # the size at which every setting is built
    expansions: tuple[int, ...]
    settings: tuple[ann.Setting, ...]
    api_queries: int
    api_rounds: int
    images: int
    batch_sizes: tuple[int, ...]
    batch_seconds: float
    peer_rounds: int = 3  # rounds of the query set per peer setting (median queries/s)
    import_logos: int = 20_000  # synthetic Robotoff logos imported (bench.import_robotoff)


_DEFAULT = ann.DEFAULT
SWEEP = (  # the usearch adapter (the previous default) and its variants; then one change of the default
    ann.USEARCH,
    dataclasses.replace(ann.USEARCH, rescore=True),
    dataclasses.replace(ann.USEARCH, dtype="f16"),
    dataclasses.replace(ann.USEARCH, dtype="f32"),
    dataclasses.replace(_DEFAULT, connectivity=8, connectivity_base=16),
    dataclasses.replace(_DEFAULT, connectivity=24, connectivity_base=48),
    dataclasses.replace(_DEFAULT, expansion_add=128),
)
PLANS = {
    "quick": Plan(
        "quick", (30_000,), 300, 30_000, (32, 64, 256), SWEEP[:1] + SWEEP[4:5], 100, 2, 6, (1, 4, 16), 1.0, 1
    ),
    "full": Plan(
        "full",
        (100_000, 1_000_000),
        1000,
        100_000,
        (32, 64, 96, 256, 512),
        SWEEP,
        500,
        2,
        24,
        (1, 2, 4, 8, 16, 32, 64),
        4.0,
        import_logos=1_000_000,
    ),
}


def mark_default(record: dict[str, Any], default: ann.Setting, default_ef: int) -> None:
    """Flag the record measured at the configured default setting (the headline row)."""
    record["is_default"] = record.get("setting") == default.label() and record.get("expansion_search") == default_ef


def ann_records(plan: Plan, workdir: Path) -> tuple[list[dict[str, Any]], Any]:
    default, default_ef = ann.configured()
    records: list[dict[str, Any]] = []
    data = None
    for n in plan.sizes:
        data = generate(n, plan.queries)
        profile = {
            "benchmark": "ann_data",
            "n": n,
            **neighbour_profile(data.vectors),
            "spectrum_slope": spectrum_slope(data.vectors),
        }
        records.append(profile)
        settings = (default, *plan.settings) if n == plan.sweep_size else (default,)
        keep = workdir / "api-home" / "index"  # opened by the peers' comparison, then by the API stage
        expansions = plan.expansions if n == plan.sweep_size or n == max(plan.sizes) else ()
        for record in ann.run(data, settings, expansions, workdir, default_ef, default, keep):
            mark_default(record, default, default_ef)
            records.append(record)
        build_s = next(r["build_s"] for r in records if r.get("n") == n and r.get("setting") == default.label())
        params = {k: getattr(default, k) for k in ("engine", "connectivity", "connectivity_base", "expansion_add")}
        records += ann_peers.run(data, keep, params, build_s, workdir, plan.peer_rounds)
        (RESULTS / "ann.partial.json").write_text(json.dumps(records, indent=1) + "\n")  # survives a later crash
    return records, data


def run(plan: Plan) -> list[dict[str, Any]]:
    workdir = RESULTS / "tmp"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    timings: dict[str, float] = {}
    groups: dict[str, list[dict[str, Any]]] = {}

    def stage(name: str, fn: Any) -> None:
        started = time.perf_counter()
        groups[name] = fn()
        timings[name] = time.perf_counter() - started
        log.info("%s done in %.0f s", name, timings[name])

    models = ensure()
    holder: dict[str, Any] = {}

    def do_ann() -> list[dict[str, Any]]:
        records, holder["data"] = ann_records(plan, workdir)
        return records

    stage("ann", do_ann)
    stage("es", lambda: es.run(holder["data"]))
    stage("api", lambda: api.run(holder["data"].vectors, workdir, plan.api_queries, plan.api_rounds))
    holder.clear()
    stage(
        "ann_datasets",  # both data sets side by side, every peer, at the sweep size
        lambda: ann_datasets.with_table(
            ann_datasets.run(plan.sweep_size, plan.queries, workdir / "datasets", plan.peer_rounds)
        ),
    )
    stage("crop", lambda: crop.run(workdir, models, 2 + plan.images * 2, 10))
    stage("load", lambda: load_stage(plan.mode))
    stage("pipeline", lambda: pipeline.run(models, workdir, plan.images))
    stage("batching", lambda: pipeline.embedder_batches(models["embedder"], list(plan.batch_sizes), plan.batch_seconds))
    stage(
        "triton",
        lambda: triton.run(
            models, workdir, max(2, plan.images // 4), [b for b in plan.batch_sizes if b <= 32], plan.batch_seconds
        ),
    )
    stage(
        "triton_input",
        lambda: triton_input.run(
            triton_input.bench_models(models["embedder"], workdir), [1, 8, 32][: 2 if plan.mode == "quick" else 3], 3.0
        ),
    )
    stage("gpu", gpu_measure)
    stage("propagation", lambda: propagation.run(workdir, quick=plan.mode == "quick"))
    stage("annotation", lambda: annotation.run(workdir, quick=plan.mode == "quick"))
    stage(
        "import", lambda: import_robotoff.run(plan.import_logos, plan.images, workdir / "import", index_logos=100_000)
    )
    shutil.rmtree(workdir, ignore_errors=True)
    (RESULTS / "ann.partial.json").unlink(missing_ok=True)
    for name, records in groups.items():
        for record in records:
            record.setdefault("mode", plan.mode)
        (RESULTS / f"{name}.json").write_text(json.dumps(records, indent=1) + "\n")
    everything = [r for records in groups.values() for r in records]
    write_summary(RESULTS, plan.mode, everything, timings, models)
    return everything


def load_stage(mode: str) -> list[dict[str, Any]]:
    """Hunger Games' mix against ``logo-ann serve`` (``bench.load``): 100k logos and 20 s a
    connection level in the full plan, 10k and 8 s in the quick one (homes kept in ``load.CACHE``)."""
    from bench import load

    n, seconds = (100_000, 20.0) if mode == "full" else (10_000, 8.0)
    return load.run(load.CACHE, n, levels=(16, 64), seconds=seconds)


def ann_only(plan: Plan) -> None:
    """The ANN stages alone, labelled with when and how loaded they ran (``run``)."""
    workdir = RESULTS / "tmp-ann"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    label = f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC (load {os.getloadavg()[0]:.1f} at the start)"
    records, _ = ann_records(plan, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    (RESULTS / "ann.partial.json").unlink(missing_ok=True)
    for record in records:
        record.setdefault("mode", plan.mode)
        record["run"] = label
    path = RESULTS / "ann.json"
    kept = [r for r in json.loads(path.read_text()) if r.get("n") not in plan.sizes] if path.exists() else []
    path.write_text(json.dumps(kept + records, indent=1) + "\n")
    resummarize()


def resummarize() -> None:
    """Rewrite the summary from the stored records, flagging the *current* default setting.

    Used when the default changes after a run: every figure stays the one measured, only which
    row is the headline changes.
    """
    default, default_ef = ann.configured()
    records: list[dict[str, Any]] = []
    names = (
        "ann",
        "ann_side_by_side",
        "ann_limits",
        "es",
        "api",
        "crop",
        "load",
        "pipeline",
        "batching",
        "triton",
        "triton_input",
        "gpu",
    )
    for name in (*names, "propagation", "annotation", "import"):
        path = RESULTS / f"{name}.json"
        if path.exists():
            records += json.loads(path.read_text())
    for record in records:
        if record.get("benchmark") == "ann":
            mark_default(record, default, default_ef)
    previous = json.loads((RESULTS / "summary.json").read_text()) if (RESULTS / "summary.json").exists() else {}
    mode = previous.get("mode", "full")
    write_summary(RESULTS, mode, records, previous.get("stage_seconds", {}), ensure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="small sizes, a few settings (< 3 minutes)")
    group.add_argument("--full", action="store_true", help="100k and 1M vectors, every setting (< 30 minutes)")
    group.add_argument(
        "--resummarize", action="store_true", help="rewrite the summary from bench/results/*.json (no measuring)"
    )
    group.add_argument(
        "--triton-input",
        action="store_true",
        help="only the Triton input stage (float32 vs uint8 wrapper), then rewrite the summary",
    )
    parser.add_argument(
        "--only-ann",
        action="store_true",
        help="only the ANN stages (the index, its settings and the peers) of the chosen plan; their records "
        "replace those of the same sizes in ann.json, then the summary is rewritten",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated sizes instead of the plan's (e.g. 1000000: the 1M stages only; the setting "
        "sweep runs only if the plan's sweep size is among them)",
    )
    args = parser.parse_args()
    if args.resummarize:
        resummarize()
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.triton_input:
        workdir = RESULTS / "tmp-triton-input"
        records = triton_input.run(triton_input.bench_models(ensure()["embedder"], workdir), [1, 8, 32], 3.0)
        shutil.rmtree(workdir, ignore_errors=True)
        for record in records:
            record["mode"] = "full"
        (RESULTS / "triton_input.json").write_text(json.dumps(records, indent=1) + "\n")
        resummarize()
        return
    logging.getLogger("common").setLevel(logging.WARNING)
    started = time.perf_counter()
    plan = PLANS["full" if args.full else "quick"]
    if args.sizes:
        plan = dataclasses.replace(plan, sizes=tuple(int(size) for size in args.sizes.split(",")))
    if args.only_ann:
        ann_only(plan)
    else:
        run(plan)
    log.info("benchmarks finished in %.0f s; results in %s", time.perf_counter() - started, RESULTS)


if __name__ == "__main__":
    main()
