"""Embedding writes and reads of the embedded (SQLite) store: vectors in the rows vs the slot file.

``python -m bench.vector_store --rows 200000 --mode slot --mode inline [--out FILE]``

For each mode a fresh store in a temporary folder beside the repository (same disk as the
real home): ``--rows`` logos are inserted untimed (one image each), then timed:

- ``write``: 512-d float32 vectors in batches of ``--batch`` (the import's batch size), each batch
  one transaction, then ``flush`` (fdatasync of the slot file, as at the end of an import).
  ``--path save``: ``save_embeddings`` (which also checks the logos, and stamps their images'
  embedder version); ``--path import``: what the import's embedding write does in its batch
  transaction, the storage's bulk ``insert`` and the change-log rows;
- ``iter``: one ``iter_embeddings`` pass over them (page cache warm: the file was just written).

Modes: ``slot`` is the store as built (``SlotVectors``); ``inline`` swaps in
``InlineVectors`` (the vector in its row, 4 KiB pages, the layout before schema version 5);
``default`` takes whatever the store does, so the script also runs against an older checkout
(``PYTHONPATH=<old tree>``) for the code before the change. One JSON object per mode: rows/s,
CPU seconds of this process, wall seconds, database (+ WAL) and vector file sizes, load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.adapters.sql.database import utc_now
from common.adapters.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[1]
DIM = 512


def _fill_logos(store: SqliteStore, rows: int) -> list[int]:
    def work(tx: Any) -> None:
        now = "2026-01-01T00:00:00.000000+00:00"
        tx.many(
            "INSERT INTO image (id, bucket, name, generation, status, created_at, updated_at) VALUES (?, 'b', ?, '0',"
            " 'indexed', ?, ?)",
            [(i, f"{i}.jpg", now, now) for i in range(1, rows + 1)],
        )
        tx.many(
            "INSERT INTO logo (id, image_id, box_index, y_min, x_min, y_max, x_max, score, label, detector_version,"
            " created_at) VALUES (?, ?, 0, 0, 0, 1, 1, 0.5, 'object', 'd', ?)",
            [(i, i, now) for i in range(1, rows + 1)],
        )

    store.db.run(work, write=True)
    return list(range(1, rows + 1))


def _sizes(home: Path) -> dict[str, int]:
    db = home / "logo-ann.sqlite3"
    wal = Path(f"{db}-wal")
    vector_files = sum(p.stat().st_size for p in home.glob("logo-ann.sqlite3.vectors-*"))
    return {"db_bytes": db.stat().st_size + (wal.stat().st_size if wal.exists() else 0), "file_bytes": vector_files}


def write_batch(store: SqliteStore, path: str, ids: list[int], vectors: np.ndarray) -> None:
    if path == "save":
        store.save_embeddings(ids, vectors, "e", "r")
        return

    def work(tx: Any) -> None:  # as SqlImports._embeddings: the bulk insert, then the change log
        now = store.db.to_ts(utc_now())
        store.db.vectors.insert(tx, ids, vectors, "e", "r", now)
        tx.many("INSERT INTO embedding_change (logo_id, op, created_at) VALUES (?, ?, ?)",
                [(i, "upsert", now) for i in ids])  # fmt: skip

    store.db.run(work, write=True)


def measure(mode: str, path: str, rows: int, batch: int, workdir: Path) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"vectors-{mode}-", dir=workdir))
    try:
        store = SqliteStore(home / "logo-ann.sqlite3")
        if mode == "inline":
            from common.adapters.sql.vectors import InlineVectors

            store.db.vectors = InlineVectors(copy=False)
        ids = _fill_logos(store, rows)
        vectors = np.random.default_rng(0).normal(size=(rows, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        load = os.getloadavg()
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, rows, batch):
            write_batch(store, path, ids[start : start + batch], vectors[start : start + batch])
        getattr(getattr(store.db, "vectors", None), "flush", lambda: None)()
        write = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
        cpu, wall = time.process_time(), time.perf_counter()
        read = 0
        for batch_ids, matrix in store.iter_embeddings(batch_size=10_000):
            read += len(batch_ids)
            assert matrix.shape == (len(batch_ids), DIM)
        scan = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
        assert read == rows, (read, rows)
        sizes = _sizes(home)
        store.close()
        return {
            "mode": mode, "path": path, "rows": rows, "batch": batch,
            "write_rows_per_s": round(rows / write["wall_s"]), "write_cpu_s": round(write["cpu_s"], 2),
            "write_wall_s": round(write["wall_s"], 2),
            "iter_rows_per_s": round(rows / scan["wall_s"]), "iter_cpu_s": round(scan["cpu_s"], 2),
            "iter_wall_s": round(scan["wall_s"], 2),
            **sizes, "loadavg_before": [round(x, 2) for x in load],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--mode", action="append", choices=("slot", "inline", "default"))
    parser.add_argument("--path", choices=("save", "import"), default="save")
    parser.add_argument("--label", default="", help="recorded with each result (e.g. the commit measured)")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "results" / "tmp")
    parser.add_argument("--out", type=Path, help="add the results to this JSON list (created if absent)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for mode in args.mode or ["inline", "slot"]:
        result = {"label": args.label, **measure(mode, args.path, args.rows, args.batch, args.workdir)}
        print(json.dumps(result), flush=True)
        if args.out:
            kept = json.loads(args.out.read_text()) if args.out.exists() else []
            args.out.write_text(json.dumps([*kept, {"benchmark": "vector_store", **result}], indent=1) + "\n")


if __name__ == "__main__":
    main()
