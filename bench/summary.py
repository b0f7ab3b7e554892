"""``summary.md`` and ``summary.json``: machine, headline figures with their settings, goals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from bench import peers_report, report
from bench.macs import count_macs

REFERENCE_GMACS = {"embedder": ("CLIP ViT-B/32 image tower", 4.41), "detector": ("YOLOv8n at 640", 4.35)}
ES_COLUMNS = (
    "system kind index_type num_candidates expansion_search recall_target recall_at_10 qps_one_thread p50_ms "
    "bulk_docs_per_s heap_bytes_per_vector disk_bytes_per_vector"
).split()
ES_POLICY = [
    "A real Elasticsearch 8.14.3 node (`tests/es_node`, Elasticsearch's own jars from Maven Central, one "
    "shard, 1 GB heap, Java 17) on the same vectors and queries as the embedded default index beside it "
    "(`system`). `target` rows: the cheapest `num_candidates` (Elasticsearch) or `expansion_search` "
    "(embedded) reaching recall@10 0.95 and 0.99, empty when none does: `int8_hnsw` scores and ranks on "
    "int8 vectors (8.14 has no float re-scoring), so its recall levels off below 1 whatever the candidates. "
    "Bulk indexing is through the adapter (500 documents per request, one client thread, until "
    "searchable); heap is JVM heap after a full GC, loaded minus empty; disk is the primary store; the "
    "embedded index's bytes are what its search keeps in memory. Record: `bench/results/es.json`.",
]


TRITON_INPUT_NOTE = [
    "Through the project's stack (`Embedder` → `TritonSession`, HTTP with binary tensors → PyTriton, "
    "onnxruntime on one CPU thread), one server per model. `request_bytes` is the exact HTTP body "
    "`tritonclient` builds for the batch. The uint8 wrapper (`offline/models/uint8_input.py`, built by "
    "`logo-ann models prepare` / `fetch`) normalises inside the graph and gives the same vectors. On this "
    "CPU-only machine the ViT-B/32-sized model dominates each request, so the bytes saved show in crops/s "
    "only with the light model, whose time is mostly the transfer, as on a GPU server.",
]


GPU_NOTE = [
    "`input` host: the batch is handed over from host memory on every call (what a server pays, the copy to "
    "the GPU included); device: the batch is already on the GPU (I/O binding), the model alone. float16 is the "
    "same graph with half-precision weights and activations, float32 in and out. Measured by "
    "`python -m bench.gpu` on the GPU machine (onnxruntime-gpu); on a machine without a GPU `make bench` "
    "reports that run's records from `gpu_device.json`.",
]


PROPAGATION_NOTE = [
    "`python -m bench.propagation`: each logo's 10 exact nearest neighbours; a share of the logos is "
    "annotated, the rest is predicted and checked against its hidden kind. `calibrated`: the project's vote "
    "(cut-off `LOGO_ANN_VOTE_MAX_DISTANCE`, unannotated neighbours abstain, prior weight) accepted at the "
    "per-type thresholds that leave-one-out over the annotated logos chose: the lowest confidence at which a "
    "one-sided 95 % Wilson lower bound of the precision at or above it reaches the target (none: nothing "
    "accepted for that type); "
    "`robotoff`: 1/d weights, unannotated neighbours in the denominator, no cut-off, share ≥ 0.2. `precision` "
    "= right / accepted over all seeds (`runs`) together, `accepted_runs` = seeds whose thresholds accepted "
    "anything, `coverage` = accepted / held-out (mean over the seeds), `bound` = the calibration's one-sided 95 % "
    "Wilson lower bound of the accepted predictions' precision (each type's bound at its threshold, weighted by "
    "what was accepted; mean over the seeds that accepted). The rendered set is drawn with PIL (kinds "
    "sharing colours and shapes, each instance re-photographed) and embedded with the project's stand-in "
    "embedder (a projection of the colour layout, not CLIP); the synthetic set is vectors only.",
]


def _propagation_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means over seeds, per dataset, annotated share and method."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["annotated_share"], r["method"]), []).append(r)
    rows = []
    for (dataset, share, method), group in groups.items():
        row: dict[str, Any] = {"dataset": dataset, "annotated_share": share, "method": method, "runs": len(group)}
        row["held_out"] = group[0]["held_out"]
        taken = [r for r in group if r["accepted"]]
        right = sum(round(r["precision"] * r["accepted"]) for r in taken)
        row["accepted_runs"] = len(taken)
        row["precision"] = round(right / sum(r["accepted"] for r in taken), 4) if taken else None
        for key in ("coverage", "bound"):
            values = [r[key] for r in group if r.get(key) is not None]
            row[key] = round(sum(values) / len(values), 4) if values else None
        rows.append(row)
    return rows


def _models(models: dict[str, Path]) -> list[str]:
    lines = ["| model | counted GMACs (batch 1) | reference |", "| --- | --- | --- |"]
    for role, path in models.items():
        name, ref = REFERENCE_GMACS[role]
        lines.append(f"| {path.name} | {count_macs(onnx.load(str(path))) / 1e9:.2f} | {name}: {ref} GMACs |")
    return lines


LOAD_COLUMNS = ["n", "connections", "route", "route_connections", "server_threads", "requests_per_s", "p50_ms",
                "p99_ms", "max_ms", "errors", "load_average_1m"]  # fmt: skip
LOAD_NOTE = [
    "`python -m bench.load` (`make bench-load`): three `wrk` processes at once against one `logo-ann serve`, the "
    "connections split as a game screen's requests are: a quarter on `GET /api/v1/ann/search/{id}?count=50`, a "
    "quarter on `GET /api/v1/images/logos` with 50 ids, half on crops of 200 stored 1 MP photos "
    "(`/api/v1/images/crop`). The machine's 1-minute load average at the start of each level is in the last "
    "column: the development machines are shared, so a figure measured at load 10 on 2 cores says more about the "
    "neighbours than about the server. Where the tail comes from and what was changed: docs/security.md.",
]


def _section(title: str, rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return []
    return ["", f"## {title}", "", *report.table(rows, columns)]


def write_summary(
    out: Path, mode: str, records: list[dict[str, Any]], timings: dict[str, float], models: dict[str, Path]
) -> None:
    head = report.headline(records)
    info = report.machine()
    body = {**head, "mode": mode, "machine": info, "stage_seconds": timings}
    (out / "summary.json").write_text(json.dumps(body, indent=1) + "\n")
    plots = report.plots(records, out) + peers_report.plot(records, out)
    by = lambda kind: [r for r in records if r.get("benchmark") == kind]  # noqa: E731
    lines = [
        f"# Benchmark summary ({mode})",
        "",
        f"Machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}; {info['versions']}; {info['date']}.",
        "Stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + ".",
        "",
        "## Goals",
        "",
        *report.goals_table(head),
        "",
    ]
    lines += ["Headline settings: see `summary.json` (each figure carries the setting it was measured at).", ""]
    lines += ["## Stand-in models", "", *_models(models)]
    lines += _section(
        "Data", by("ann_data"), ["n", "nn1_median", "nn10_median", "random_mean", "random_std", "spectrum_slope"]
    )
    lines += _section(
        "ANN index",
        by("ann"),
        [
            "run",
            "n",
            "setting",
            "expansion_search",
            "recall_at_1",
            "recall_at_10",
            "recall_at_100",
            "recall_at_10_exact_over_codes",
            "qps_one_thread",
            "p50_ms",
            "p99_ms",
            "build_s",
            "bytes_per_vector",
            "speedup_vs_exact",
        ],
    )
    lines += peers_report.section(records)
    lines += _section(
        "Side by side in one process, rounds interleaved (`python -m bench.ann_side_by_side`)",
        by("ann_side_by_side"),
        ["n", "system", "value", "recall_at_10", "qps_one_thread", "ratio_to_project_ef128", "load_average_1m"],
    )
    lines += _section(
        "What the codes allow (exact search over coded vectors, `python -m bench.ann_limits`)",
        by("ann_limits"),
        ["n", "codes", "bits", "bytes", "recall_at_10_exact"],
    )
    lines += _section("Exact search", by("ann_exact"), ["n", "queries", "threads", "qps_batched_all_cores"])
    lines += _section(
        "Elasticsearch",
        by("es"),
        ES_COLUMNS,
    )
    lines += ["", *ES_POLICY]
    lines += _section(
        "Search API",
        by("api"),
        [
            "run",
            "load_average_1m",
            "n",
            "count",
            "requests_per_s",
            "p50_ms",
            "p99_ms",
            "server_knn_p50_ms",
            "raw_p50_ms",
            "added_ms_p50",
            "added_ms_p50_vs_back_to_back",
        ],
    )
    lines += [
        "",
        "The API's home holds the full index and a SQLite store with only the query logos' embeddings "
        "(the route reads the query vector from the store). `server_knn` is each request's index query "
        "as the server timed it (`Server-Timing: knn`); `raw` is the same queries run back to back in the "
        "benchmark process, with warmer caches. `added` = request p50 − `server_knn` p50; the last column "
        "subtracts the back-to-back figure instead.",
    ]
    lines += _section(
        "Crops by URL (Robotoff's /images/crop)", by("crop"), ["photo", "case", "requests", "p50_ms", "p99_ms"]
    )
    if by("load"):
        title = "Load: Hunger Games' mix against logo-ann serve (wrk)"
        lines += [*_section(title, by("load"), LOAD_COLUMNS), "", *LOAD_NOTE]
    lines += _section(
        "Pipeline", by("pipeline"), ["run", "path", "runtime", "images", "images_per_s", "fraction_of_raw"]
    )
    lines += _section("Batching", by("batching"), ["runtime", "batch_size", "crops_per_s", "ms_per_batch"])
    lines += _section("Triton", by("triton"), ["skipped", "reason"])
    lines += _section(
        "Triton input: float32 crops against the uint8 wrapper",
        by("triton_input"),
        ["model", "model_input", "batch_size", "request_bytes", "bytes_per_crop", "crops_per_s", "ms_per_batch"],
    )
    lines += ["", *TRITON_INPUT_NOTE] if by("triton_input") else []
    lines += _section(
        "GPU",
        by("gpu"),
        ["device", "provider", "precision", "input", "batch_size", "crops_per_s", "ms_per_batch", "skipped", "reason"],
    )
    lines += ["", *GPU_NOTE]
    lines += _section(
        "Label propagation: data",
        by("propagation_data"),
        ["dataset", "n", "kinds", "nn1_median", "nn1_same_kind", "nn10_same_kind"],
    )
    lines += _section(
        "Label propagation: calibrated vote against Robotoff's rule",
        _propagation_rows(by("propagation")),
        ["dataset", "annotated_share", "method", "runs", "accepted_runs", "held_out", "precision", "coverage", "bound"],
    )
    lines += ["", *PROPAGATION_NOTE] if by("propagation") else []
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    notes = out / "notes.md"
    if notes.is_file():
        lines += ["", notes.read_text()]
    analysis = out.parent / "ANALYSIS.md"  # hand-written reading of the figures, kept with them
    if analysis.exists():
        lines += ["", analysis.read_text().strip()]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
