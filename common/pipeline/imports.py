"""Use case: import a Robotoff deployment's logos, then index them.

The source is read in batches from the checkpoint on; each checked batch is written in one
transaction that moves the checkpoint, so ``kill -9`` at any moment loses nothing and repeats
nothing, and a second run over a finished source reads nothing new. A batch of logos already
stored (a fresh checkpoint over the same data) is recognised by id and written again nowhere.
Indexing comes after, timed on its own: the ANN index takes the new embeddings through the
``VectorIndex`` port (the embedded index catches up from the change log; Elasticsearch gets
the documents it lacks).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from queue import Full, Queue
from typing import Any, Protocol, TextIO

from common.errors import ConfigError
from common.imports.batch import SourceBatch, prepare
from common.imports.rows import EMBEDDING_DIM
from common.pipeline.reconcile import reconcile
from common.ports.import_store import ImportStore
from common.ports.metadata_store import MetadataStore
from common.ports.vector_index import VectorIndex
from common.progress import Progress
from common.records.imports import BatchOutcome


class ImportSource(Protocol):
    kind: str
    name: str  # identifies the source's checkpoint

    def count_after(self, after: int) -> int: ...

    def rows(self, after: int, batch_size: int) -> Iterator[SourceBatch]: ...


@dataclasses.dataclass
class ImportReport:
    source: str
    resumed_after: int
    rows: int
    outcome: BatchOutcome
    seconds: float
    failures: list[tuple[int, str]]
    index_seconds: float | None = None
    indexed: int | None = None

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "source": self.source,
            "resumed_after": self.resumed_after,
            "rows": self.rows,
            **dataclasses.asdict(self.outcome),
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
            "failures": [{"logo_id": i, "reason": r} for i, r in self.failures],
        }
        if self.index_seconds is not None:
            body.update(index_seconds=round(self.index_seconds, 3), indexed=self.indexed)
        return body


def run_import(
    source: ImportSource, imports: ImportStore, bucket: str, prefix: str = "", batch_size: int = 5_000,
    stream: TextIO | None = None, restart: bool = False, dim: Callable[[], int | None] | None = None,
) -> ImportReport:  # fmt: skip
    """Import every row after the source's checkpoint; returns what this run did. ``dim``: the
    size of the vectors this deployment embeds and indexes, asked once, before the first batch
    that carries embeddings is written (a source without embeddings needs no model; None: no
    embedder to compare with yet); the import stops there when Robotoff's embeddings could not
    go into its index."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    unchecked = dim
    checkpoint = imports.begin(source.name, source.kind, restart=restart)
    start = checkpoint.resume_after
    progress = Progress("import", source.count_after(start), stream=stream)
    outcome = BatchOutcome()
    try:
        for rows in prefetched(source.rows(start, batch_size)):
            batch = prepare(rows, prefix)
            if unchecked is not None and len(rows.vectors):
                check_dimension(unchecked())
                unchecked = None
            outcome.add(imports.write(source.name, bucket, batch))
            progress.advance(len(rows))
    finally:  # stopped too (Ctrl-C, an error): the rows done so far are the last line shown
        progress.close()
    imports.finish(source.name)
    failures = imports.failures(source.name)
    return ImportReport(source.name, start, progress.done, outcome, progress.seconds, failures)


def check_dimension(dim: int | None) -> None:
    """Refuse, up front, an import whose embeddings the index cannot take. Without this every logo
    would be imported without its embedding (each refused as the wrong size) and never searched."""
    if dim is not None and dim != EMBEDDING_DIM:
        raise ConfigError(
            f"Robotoff's embeddings have {EMBEDDING_DIM} dimensions, but this deployment embeds and indexes "
            f"{dim}-dimensional vectors; configure a {EMBEDDING_DIM}-d CLIP ViT-B/32 embedder "
            "(LOGO_ANN_EMBEDDER_MODEL) before importing. No embedding was written."
        )


def prefetched(batches: Iterator[SourceBatch], depth: int = 1) -> Iterator[SourceBatch]:
    """The same batches, the next one read by a thread while the caller writes this one (the
    source's socket reads and the store's writes release the GIL). At most ``depth`` batches wait."""
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        queue.put(("batch", batch), timeout=0.5)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("end", None))
        except BaseException as exc:  # handed to the caller, raised there
            queue.put(("error", exc))

    reader = threading.Thread(target=read, name="import-reader", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        close = getattr(batches, "close", None)
        reader.join(timeout=5)
        if callable(close) and not reader.is_alive():
            close()


def index_imported(store: MetadataStore, index: VectorIndex) -> tuple[int, float]:
    """Send the index every stored embedding it lacks; returns (documents added, seconds)."""
    started = time.perf_counter()
    report = reconcile(store, index, check_vectors=False)
    return len(report.added), time.perf_counter() - started
