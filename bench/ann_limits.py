"""What the codes alone allow: recall@10 of *exact* search over coded vectors, whatever the index.

``python -m bench.ann_limits [n]`` (default 100,000; results in ``bench/results/ann_limits.json``)
codes the bench's vectors and queries in two ways and searches them exhaustively:

* the project's codec (Hadamard turn, per-vector scale) at 8, 7, 6 and 5 bits per dimension
  (512, 448, 384 and 320 bytes at 512 dimensions);
* a PCA turn trained on the data, keeping the first 448, 384 or 256 components in float32 and in
  int8 with a per-component scale (fewer bytes by dropping the low-variance axes).

An index can only lose recall on top of these ceilings, so they bound how few code bytes can
still give recall 0.99.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import exact_neighbours, generate
from common.embedded_index._int8_codec import Int8Codec

RESULTS = Path(__file__).resolve().parent / "results"


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist(), strict=True)])) / 10


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1)).astype(np.float32)


def rotated_levels(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> list[dict[str, Any]]:
    codec = Int8Codec(vectors.shape[1])
    turned, turned_q = codec.rotate(vectors), codec.rotate(queries)
    rows = []
    for bits in (8, 7, 6, 5):
        levels = (1 << (bits - 1)) - 1

        def code(x: np.ndarray, levels: int = levels) -> np.ndarray:
            return _unit(np.rint(x * (levels / np.abs(x).max(axis=1, keepdims=True))))

        found, _ = exact_neighbours(code(turned), code(turned_q), 10)
        rows.append(
            {
                "codes": "rotated, per-vector scale",
                "bits": bits,
                "bytes": bits * vectors.shape[1] // 8,
                "recall_at_10_exact": _recall(found, truth),
            }
        )
    return rows


def pca_prefix(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> list[dict[str, Any]]:
    _, axes = np.linalg.eigh(np.cov(vectors[::5].astype(np.float64), rowvar=False))
    turn = axes[:, ::-1].astype(np.float32)
    projected, projected_q = vectors @ turn, queries @ turn
    rows = []
    for keep in (448, 384, 256):
        part, part_q = projected[:, :keep], projected_q[:, :keep]
        found, _ = exact_neighbours(np.ascontiguousarray(part), np.ascontiguousarray(part_q), 10)
        scale = 127 / np.abs(part).max(axis=0)
        coded = np.clip(np.rint(part * scale), -127, 127) / scale
        coded_q = np.clip(np.rint(part_q * scale), -127, 127) / scale
        found8, _ = exact_neighbours(coded.astype(np.float32), coded_q.astype(np.float32), 10)
        rows.append(
            {
                "codes": f"PCA, first {keep} components",
                "bits": 32,
                "bytes": 4 * keep,
                "recall_at_10_exact": _recall(found, truth),
            }
        )
        rows.append(
            {
                "codes": f"PCA, first {keep} components, int8 per component",
                "bits": 8,
                "bytes": keep,
                "recall_at_10_exact": _recall(found8, truth),
            }
        )
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = generate(n, 1000)
    truth, _ = exact_neighbours(data.vectors, data.queries, 10)
    rows = rotated_levels(data.vectors, data.queries, truth) + pca_prefix(data.vectors, data.queries, truth)
    for row in rows:
        row.update(benchmark="ann_limits", n=n, queries=len(data.queries))
        print(row)
    (RESULTS / "ann_limits.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
