"""The peers' part of ``summary.md``: the table, the fastest system at each recall, one plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report
from bench.ann_peers import fastest

COLUMNS = [
    "n",
    "system",
    "knob",
    "value",
    "recall_at_10",
    "recall_at_10_with_ties",
    "qps_one_thread",
    "p50_ms",
    "p99_ms",
    "resident_bytes_per_vector",
    "library_bytes_per_vector",
    "build_s",
    "load_average_1m",
]
HOW = (
    "Every system ran on the same vectors and queries in this run, in its own child process, one query "
    "thread (hnswlib `set_num_threads(1)`, faiss `omp_set_num_threads(1)`, usearch `threads=1`), builds on "
    "all cores. queries/s is the median of the rounds over the query set, the settings of a system "
    "interleaved in each round; p50/p99 pool every round. `resident_bytes_per_vector` is the growth of the "
    "child's `RssAnon` (`/proc/self/status`, after `malloc_trim`) from just before the build to after it "
    "and a first query, divided by n; the stored vectors are memory-mapped from a file, so they are not "
    "counted. `library_bytes_per_vector` is usearch's own `memory_usage`. The project's index is opened "
    "from the directory it was saved to (as a server does), so its build time is the build measured "
    "above in the same run. `recall_at_10_with_ties` counts a returned neighbour as correct when its true "
    "cosine is within 1e-4 of the true 10th."
)


def section(records: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in records if r.get("benchmark") == "ann_peers"]
    if not rows:
        return []
    lines = ["", "## ANN peers (same data, same run)", "", *report.table(rows, COLUMNS), "", HOW, ""]
    for n in sorted({r["n"] for r in rows}):
        for key, label in (("recall_at_10", "recall@10"), ("recall_at_10_with_ties", "recall@10 with ties")):
            for goal in (0.99, 0.98):
                best = fastest(records, n, goal, key)
                what = (
                    f"**{best['system']}** at {best['knob']} {best['value']}: {best['qps_one_thread']:.0f} q/s "
                    f"({label} {best[key]:.4f}, {best['resident_bytes_per_vector']:.0f} B/vector)"
                    if best
                    else "no system reaches it"
                )
                lines.append(f"- n={n:,}, {label} ≥ {goal}: fastest {what}.")
    exact = [r for r in records if r.get("benchmark") == "ann_peers_exact"]
    if exact:
        lines += ["", "Exact search (numpy matmul + partial sort in 65,536-row chunks, batched queries):", ""]
        lines += report.table(exact, ["n", "queries", "blas_threads", "blas", "load_average_1m", "qps_batched"])
    return lines


def plot(records: list[dict[str, Any]], out: Path) -> list[str]:
    rows = [r for r in records if r.get("benchmark") == "ann_peers"]
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.8), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        for system in dict.fromkeys(r["system"] for r in rows if r["n"] == n):
            line = sorted((r for r in rows if r["n"] == n and r["system"] == system), key=lambda r: r["value"])
            bytes_ = line[0]["resident_bytes_per_vector"]
            ax.plot(
                [r["recall_at_10"] for r in line],
                [r["qps_one_thread"] for r in line],
                "o-",
                label=f"{system} ({bytes_:.0f} B/vec)",
            )
        side = [r for r in records if r.get("benchmark") == "ann_side_by_side" and r["n"] == n]
        for system in dict.fromkeys(r["system"] for r in side):
            line = sorted((r for r in side if r["system"] == system), key=lambda r: r["value"])
            ax.plot(
                [r["recall_at_10"] for r in line],
                [r["qps_one_thread"] for r in line],
                "x--",
                lw=0.8,
                label=f"{system}: side by side, one process",
            )
        ax.axvline(0.99, color="grey", lw=0.6, ls="--")
        ax.axhline(1000, color="grey", lw=0.6, ls="--")
        ax.set(xlabel="recall@10", ylabel="queries/s (one thread)", yscale="log", title=f"n = {n:,}")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "ann_peers_recall_qps.png", dpi=110)
    plt.close(fig)
    return ["ann_peers_recall_qps.png"]
