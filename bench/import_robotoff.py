"""Moving a Robotoff deployment over: import rate, index build, peak memory; backfill rate.

``python -m bench.import_robotoff --logos N`` (also a stage of ``bench.run``):

- a synthetic Robotoff database of N logos (3 per image, every logo with a 2,048-byte embedding,
  one in ten annotated, one in two with stored neighbours) is built on the machine's PostgreSQL
  with Robotoff's tables (``stack/robotoff_db.py``);
- ``logo-ann import robotoff --no-index`` runs in its own process into a fresh SQLite home, then
  into a fresh PostgreSQL database; each run's rows/s comes from its report, its peak RSS from
  ``getrusage`` in that process;
- the embedded index (usearch, the configured default) is built in another process from a store
  that an import of ``--index-logos`` rows filled, timed and measured on its own (its build at 1M
  is in ``bench/results/ann.json``, same code and setting);
- backfill: N_images photos in the local bucket, ``logo-ann backfill`` in-process (detect → embed
  → index with the ONNX stand-in models) and through the Pub/Sub emulator pushing to the real
  ``detect`` function under functions-framework; then through the local stack (SeaweedFS, the
  backfill topic pushed to the stack's ``detect``, ``embed_index``, Triton, the Elasticsearch
  double and PostgreSQL), and a second run that skips every object as done.
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
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PEAK = [sys.executable, "-m", "bench.peak_rss"]


def _run(argv: list[str], env: dict[str, str], timeout: float = 7200) -> tuple[dict[str, Any], float]:
    """Run ``logo-ann argv`` in its own process; (its JSON report with ``peak_rss_mb``, wall seconds)."""
    started = time.perf_counter()
    done = subprocess.run([*PEAK, *argv], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"logo-ann {' '.join(argv)} failed: {done.stderr[-3000:]}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    report = {k: v for line in lines for k, v in line.items()}
    return report, wall


def import_rates(logos: int, workdir: Path) -> list[dict[str, Any]]:
    """Import ``logos`` synthetic rows into SQLite, then into PostgreSQL (no index build)."""
    from stack.pg import scratch_database

    records: list[dict[str, Any]] = []
    with scratch_database("bench_robotoff") as source:
        _synthetic(source, logos)
        argv = ["import", "robotoff", "--database-url", source, "--batch-size", "5000", "--no-index"]
        home = workdir / f"import-{uuid.uuid4().hex[:6]}"
        report, wall = _run(argv, dict(os.environ, LOGO_ANN_HOME=str(home)))
        records.append(_record("import", "sqlite", logos, report, wall))
        shutil.rmtree(home, ignore_errors=True)
        with scratch_database("bench_import_pg") as target:
            env = dict(os.environ, LOGO_ANN_HOME=str(home) + "-pg", LOGO_ANN_STORE="postgres",
                       LOGO_ANN_DATABASE_URL=target)  # fmt: skip
            report, wall = _run(argv, env)
            records.append(_record("import", "postgresql", logos, report, wall))
    return records


def index_build(logos: int, workdir: Path) -> dict[str, Any]:
    """Import ``logos`` rows into a fresh SQLite home, then time the embedded index build alone."""
    from stack.pg import scratch_database

    with scratch_database("bench_robotoff_index") as source:
        _synthetic(source, logos)
        home = workdir / f"import-index-{uuid.uuid4().hex[:6]}"
        env = dict(os.environ, LOGO_ANN_HOME=str(home))
        argv = ["import", "robotoff", "--database-url", source, "--batch-size", "5000"]
        _run([*argv, "--no-index"], env)
        report, wall = _run(argv, env)  # nothing left to import: only the index build
    return {"benchmark": "import", "stage": "index_build", "target": "usearch (configured default)", "n": logos,
            "index_s": report["index_seconds"], "documents": report["index_documents"],
            "peak_rss_mb": report["peak_rss_mb"], "cpu_s": report.get("cpu_s"), "wall_s": round(wall, 1)}  # fmt: skip


def _synthetic(url: str, logos: int) -> None:
    from stack import robotoff_db

    started = time.perf_counter()
    robotoff_db.create_schema(url)
    robotoff_db.fill_synthetic(url, logos)
    log.info("synthetic Robotoff database of %d logos in %.0f s", logos, time.perf_counter() - started)


def _record(stage: str, target: str, n: int, report: dict[str, Any], wall: float) -> dict[str, Any]:
    return {
        "benchmark": "import",
        "stage": stage,
        "target": target,
        "n": n,
        "rows": report["rows"],
        "imported": report["imported"],
        "embeddings": report["embeddings"],
        "seconds": report["seconds"],
        "rows_per_s": report["rows_per_s"],
        "peak_rss_mb": report["peak_rss_mb"],
        "wall_s": round(wall, 1),
        "cpu_s": report.get("cpu_s"),
        "rows_per_cpu_s": round(report["rows"] / report["cpu_s"]) if report.get("cpu_s") else None,
        "batch_size": 5000,
    }


def backfill_rates(images: int, workdir: Path) -> list[dict[str, Any]]:
    from bench.backfill_stack import pubsub_backfill, seeded_home

    home, env = seeded_home(workdir / "backfill-inprocess", images)
    report, wall = _run(["backfill", "--bucket", "existing", "--mode", "in-process"], env)
    records = [
        {
            "benchmark": "import",
            "stage": "backfill",
            "path": "in-process",
            "objects": images,
            "processed": report["processed"],
            "seconds": report["seconds"],
            "objects_per_s": round(report["processed"] / report["seconds"], 2),
            "wall_s": round(wall, 1),
        }
    ]
    records.append(pubsub_backfill(workdir / "backfill-pubsub", images))
    return records + stack_backfill_rates(images, workdir)


def stack_backfill_rates(images: int, workdir: Path) -> list[dict[str, Any]]:
    """Through the local stack: the same photos, then product photos with logos (the stand-in detector
    finds none in the first, so only the second carries crops through embed_index, Triton and the index)."""
    from bench.backfill_stack import stack_backfill

    records = []
    for photos in ("bench.crop.photo", "product_photo"):
        load = os.getloadavg()
        record = stack_backfill(workdir / f"backfill-stack-{photos}", images, photos=photos)
        record.update(
            load_avg_before=[round(x, 2) for x in load], load_avg_after=[round(x, 2) for x in os.getloadavg()]
        )
        records.append(record)
    return records


def run(logos: int, images: int, workdir: Path, index_logos: int | None = None) -> list[dict[str, Any]]:
    workdir.mkdir(parents=True, exist_ok=True)
    records = import_rates(logos, workdir)
    records.append(index_build(min(logos, index_logos or logos), workdir))
    records += backfill_rates(images, workdir)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logos", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--index-logos", type=int, default=100_000, help="logos the index build is timed on")
    parser.add_argument(
        "--only",
        choices=("stack-backfill",),
        help="run only the local-stack backfill records and put them into import.json in place of earlier ones",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workdir = RESULTS / "tmp-import"
    if args.only:
        workdir.mkdir(parents=True, exist_ok=True)
        records = stack_backfill_rates(args.images, workdir)
    else:
        records = run(args.logos, args.images, workdir, args.index_logos)
    for record in records:
        record["cpus"] = os.cpu_count()
    path = RESULTS / "import.json"
    if args.only:
        ours = {record["path"] for record in records}
        kept = [r for r in json.loads(path.read_text()) if r.get("path") not in ours] if path.exists() else []
        records = kept + records
    path.write_text(json.dumps(records, indent=1) + "\n")
    print(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
