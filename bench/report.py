"""Headline figures (``summary.json``), the Markdown summary and the plots, from the records."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

GOALS = {
    "recall": 0.99,
    "qps": 1000.0,
    "bytes": 600.0,
    "speedup": 50.0,
    "fraction": 0.85,
    "added_ms": 1.0,
    "crop_ms": 20.0,
    "load_ann_p99_ms": 50.0,
}


def machine() -> dict[str, Any]:
    model = ""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor()
    versions = {}
    for name in ("numpy", "usearch", "faiss-cpu", "hnswlib", "onnxruntime", "onnx", "werkzeug", "flask"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _default_ann(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    rows = [r for r in records if r.get("benchmark") == "ann" and r.get("is_default")]
    return max(rows, key=lambda r: r["n"]) if rows else None


def _project_resident(records: list[dict[str, Any]], n: int) -> float | None:
    rows = [
        r
        for r in records
        if r.get("benchmark") == "ann_peers" and r["n"] == n and str(r.get("system", "")).startswith("logo-ann")
    ]
    return float(rows[0]["resident_bytes_per_vector"]) if rows else None


def headline(records: list[dict[str, Any]]) -> dict[str, Any]:
    head: dict[str, Any] = {}
    ann = _default_ann(records)
    if ann:
        at = {
            k: ann[k]
            for k in ("n", "dtype", "connectivity", "expansion_add", "expansion_search", "rescore", "oversample")
        }
        at["k"] = 10
        head["ann_recall_at_10"] = {"value": ann["recall_at_10"], "setting": at}
        head["ann_qps_one_thread"] = {"value": ann["qps_one_thread"], "setting": at}
        head["ann_bytes_per_vector"] = {"value": ann["bytes_per_vector"], "setting": {**at, "measured": "file size"}}
        resident = _project_resident(records, ann["n"])
        if resident is not None:
            head["ann_bytes_per_vector"] = {
                "value": resident,
                "setting": {**at, "measured": "RssAnon growth of a fresh process opening the saved index, per vector"},
            }
        head["ann_speedup_vs_exact"] = {
            "value": ann["speedup_vs_exact"],
            "setting": {**at, "exact": "numpy matmul, batched, all cores"},
        }
    pipe = next((r for r in records if r.get("benchmark") == "pipeline" and "fraction_of_raw" in r), None)
    if pipe:
        head["pipeline_fraction_of_raw"] = {
            "value": pipe["fraction_of_raw"],
            "setting": {
                "images": pipe["images"],
                "runtime": pipe["runtime"],
                "embed_batch_size": pipe["embed_batch_size"],
            },
        }
    api = next((r for r in records if r.get("benchmark") == "api" and r["count"] == 10), None)
    if api:
        head["api_added_ms_p50"] = {
            "value": api["added_ms_p50"],
            "setting": {
                "n": api["n"],
                "count": 10,
                "server": api["server"],
                "client": api["client"],
                "raw": "the same requests' index query, timed by the server (Server-Timing knn)",
                "added_ms_p50_vs_back_to_back": api.get("added_ms_p50_vs_back_to_back"),
            },
        }
    crop = next((r for r in records if r.get("benchmark") == "crop" and r["case"] == "all requests"), None)
    if crop:
        head["crop_p50_ms"] = {
            "value": crop["p50_ms"],
            "setting": {"photo": crop["photo"], "server": crop["server"], "requests": crop["requests"]},
        }
    load = next(
        (r for r in records if r.get("benchmark") == "load" and r["connections"] == 16 and r["route"] == "ann"), None
    )
    if load:
        head["load_ann_p99_ms"] = {
            "value": load["p99_ms"],
            "setting": {
                k: load.get(k)
                for k in (
                    "n",
                    "connections",
                    "route_connections",
                    "server_threads",
                    "errors",
                    "requests_per_s",
                    "load_average_1m",
                )
            },  # fmt: skip
        }
    return head


def _verdict(value: float | None, goal: float, higher: bool) -> str:
    if value is None:
        return "not measured"
    if (value >= goal) if higher else (value <= goal):
        return "met"
    gap = goal - value if higher else value - goal
    return f"missed by {gap:.3g} ({abs(gap) / goal:.0%})"


def goals_table(head: dict[str, Any]) -> list[str]:
    def val(key: str) -> float | None:
        return head[key]["value"] if key in head else None

    rows = [
        ("recall@10 ≥ 0.99", "ann_recall_at_10", GOALS["recall"], True),
        ("≥ 1,000 queries/s on one thread", "ann_qps_one_thread", GOALS["qps"], True),
        ("≤ 600 resident bytes per vector", "ann_bytes_per_vector", GOALS["bytes"], False),
        ("≥ 50× exact search (batched, all cores)", "ann_speedup_vs_exact", GOALS["speedup"], True),
        ("pipeline ≥ 85% of raw models", "pipeline_fraction_of_raw", GOALS["fraction"], True),
        ("API adds ≤ 1 ms at p50", "api_added_ms_p50", GOALS["added_ms"], False),
        ("crop from a stored 1 MP photo ≤ 20 ms at p50", "crop_p50_ms", GOALS["crop_ms"], False),
        ("ANN p99 ≤ 50 ms under the game's mix, 16 connections", "load_ann_p99_ms", GOALS["load_ann_p99_ms"], False),
    ]
    lines = ["| goal | measured | verdict |", "| --- | --- | --- |"]
    for label, key, goal, higher in rows:
        value = val(key)
        shown = f"{value:.4g}" if value is not None else "—"
        lines.append(f"| {label} | {shown} | {_verdict(value, goal, higher)} |")
    return lines


def table(records: list[dict[str, Any]], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for r in records:
        cells = [f"{r.get(c):.4g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plots(records: list[dict[str, Any]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    ann = [r for r in records if r.get("benchmark") == "ann"]
    if ann:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key in sorted({(r["n"], r["setting"]) for r in ann}):
            rows = sorted((r for r in ann if (r["n"], r["setting"]) == key), key=lambda r: r["expansion_search"])
            ax.plot(
                [r["recall_at_10"] for r in rows],
                [r["qps_one_thread"] for r in rows],
                "o-",
                label=f"n={key[0]:,} {key[1]}",
            )
        ax.set(xlabel="recall@10", ylabel="queries/s (one thread)", yscale="log", title="ANN: recall vs queries/s")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(out / "ann_recall_qps.png", dpi=110)
        plt.close(fig)
        made.append("ann_recall_qps.png")
    batching = [r for r in records if r.get("benchmark") == "batching"]
    if batching:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for runtime in sorted({r["runtime"] for r in batching}):
            rows = sorted((r for r in batching if r["runtime"] == runtime), key=lambda r: r["batch_size"])
            ax.plot([r["batch_size"] for r in rows], [r["crops_per_s"] for r in rows], "o-", label=runtime)
        ax.set(xlabel="batch size", ylabel="crops/s", xscale="log", title="Embedder throughput vs batch size")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "batching_throughput.png", dpi=110)
        plt.close(fig)
        made.append("batching_throughput.png")
    return made
