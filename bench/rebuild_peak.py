"""Peak RSS of an embedded index rebuild from a store of N vectors, as now (arrays sized once for the
store's count, adds without look-ups) and as before (arrays grown by half as they fill, each batch's keys
looked up among the stored ones), each in its own process (``rebuild_peak.json``).

The build's beam is small (ef_add 8): the arrays, not the graph's quality, set the peak, and the run
stays short. ``python -m bench.rebuild_peak --n 2000000``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DIM = 512


class Streamed:
    """The part of a metadata store a rebuild reads, its vectors drawn batch by batch (a database
    does not hold them in this process's memory either)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def embedding_count(self) -> int:
        return self.n

    def last_change_seq(self) -> int:
        return 0

    def iter_embeddings(self, batch_size: int = 10_000) -> Iterator[tuple[list[int], np.ndarray]]:
        for start in range(0, self.n, batch_size):
            rows = min(batch_size, self.n - start)
            vectors = np.random.default_rng(start).standard_normal((rows, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            yield list(range(start + 1, start + rows + 1)), vectors


def measure(mode: str, n: int) -> dict[str, Any]:
    from common.embedded_index.packed_index import PackedIndex

    index = PackedIndex(Path(tempfile.mkdtemp()), DIM, expansion_add=8)
    if mode == "before":  # the rebuild as it was: no reservation, every batch looked up
        index.reserve = lambda more: None  # type: ignore[method-assign]
        index.add_absent = index.upsert  # type: ignore[method-assign]
    started = time.perf_counter()
    index.rebuild(Streamed(n))  # type: ignore[arg-type]
    return {
        "benchmark": "rebuild_peak",
        "mode": mode,
        "n": n,
        "rebuild_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "capacity": index._graph.state.capacity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--mode", choices=("before", "now"), help="measure one mode here (the parent runs both)")
    parser.add_argument("--out", type=Path, default=RESULTS / "rebuild_peak.json")
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.n)))
        return
    label = f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC"
    records = []
    for mode in ("before", "now"):
        done = subprocess.run([sys.executable, "-m", "bench.rebuild_peak", "--n", str(args.n), "--mode", mode],
                              capture_output=True, text=True, check=True)  # fmt: skip
        records.append({**json.loads(done.stdout.strip().splitlines()[-1]), "run": label})
        print(records[-1])
    args.out.write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
