"""The embedded ANN indexes (``PackedIndex``, the default, and ``UsearchIndex``) against exact search.

For each setting: build time, recall@1/10/100 against exact ground truth computed in the same
run, queries/s on one thread with p50/p99 latency, and the bytes per vector that must stay
resident (the packed graph's arrays, or the usearch graph; usearch's float32 re-scoring vectors
live in a memory-mapped file and are reported apart). Exact search is timed batched on all cores
(numpy matmul), for the speed-up.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import Dataset, exact_neighbours
from common.embedded_index.packed_index import PackedIndex
from common.embedded_index.usearch_index import UsearchIndex
from common.settings import load_settings

Embedded = PackedIndex | UsearchIndex

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Setting:
    engine: str = "packed"  # "packed" (PackedIndex) or "usearch" (UsearchIndex)
    dtype: str = "i8"
    connectivity: int = 16
    connectivity_base: int = 28  # packed only: level-0 links (usearch has 2 x connectivity)
    expansion_add: int = 128
    expansion_add_seeded: int = 0  # packed only: the build beam of a seeded batch (0: none seeded)
    rescore: bool = False
    oversample: int = 4
    # packed only: the narrow beam a search pauses at, as a share of the search beam (0: a fixed
    # beam), and the near-tie gap that widens it (``LOGO_ANN_INDEX_EXPANSION_SEARCH_NARROW``)
    narrow_share: float = 0.0
    near_tie_gap: float = 0.002

    def label(self) -> str:
        if self.engine == "packed":
            narrow = f" narrow={self.narrow_share:g}·ef gap={self.near_tie_gap:g}" if self.narrow_share else ""
            seeded = f" seeded ef_add={self.expansion_add_seeded}" if self.expansion_add_seeded else ""
            head = f"packed i8 M={self.connectivity} M0={self.connectivity_base} ef_add={self.expansion_add}"
            return head + seeded + narrow
        suffix = "+rescore" if self.rescore else ""
        return f"usearch {self.dtype}{suffix} M={self.connectivity} ef_add={self.expansion_add}"


def configured() -> tuple[Setting, int]:
    """The setting ``logo-ann`` runs with (``common.settings``, with any ``LOGO_ANN_INDEX_*`` of the
    environment, as the service reads them) and its search expansion."""
    s = load_settings()
    engine = s.index if s.index in ("packed", "usearch") else "packed"
    narrow = s.index_expansion_search_narrow if engine == "packed" else 0
    return Setting(
        engine=engine,
        dtype="i8" if engine == "packed" else s.index_dtype,
        connectivity=s.index_connectivity,
        connectivity_base=s.index_connectivity_base if engine == "packed" else 2 * s.index_connectivity,
        expansion_add=s.index_expansion_add,
        expansion_add_seeded=s.index_expansion_add_seeded if engine == "packed" else 0,
        rescore=s.index_rescore and engine == "usearch",
        narrow_share=narrow / s.index_expansion_search,
        near_tie_gap=s.index_near_tie_gap,
    ), s.index_expansion_search


DEFAULT, DEFAULT_EF = configured()
# the embedded index this project shipped before the packed one, measured beside it
USEARCH = Setting(engine="usearch", connectivity=16, connectivity_base=32, expansion_add=256)


def open_index(setting: Setting, directory: Path, dim: int, expansion_search: int) -> Embedded:
    """The index of ``setting`` in ``directory`` (loading what is saved there)."""
    if setting.engine == "packed":
        return PackedIndex(
            directory,
            dim,
            connectivity=setting.connectivity,
            connectivity_base=setting.connectivity_base,
            expansion_add=setting.expansion_add,
            expansion_add_seeded=setting.expansion_add_seeded,
            expansion_search=expansion_search,
            expansion_search_narrow=narrow_at(setting.narrow_share, expansion_search),
            near_tie_gap=setting.near_tie_gap,
        )
    return UsearchIndex(
        directory,
        dim,
        dtype=setting.dtype,
        connectivity=setting.connectivity,
        expansion_add=setting.expansion_add,
        expansion_search=expansion_search,
        rescore=setting.rescore,
        oversample=setting.oversample,
        threads=os.cpu_count() or 1,
    )


def recall_at(found: Sequence[Sequence[int]], truth: np.ndarray, k: int) -> float:
    """Mean over queries of |first k found ∩ first k true| / k."""
    hits = [len(set(list(row)[:k]) & set(truth[i, :k].tolist())) for i, row in enumerate(found)]
    return float(np.mean(hits)) / k if hits else 0.0


def build(setting: Setting, vectors: np.ndarray, directory: Path, expansion_search: int) -> tuple[Embedded, float]:
    """A fresh index holding ``vectors`` under ids 0..n-1; returns it and the build seconds."""
    shutil.rmtree(directory, ignore_errors=True)
    index = open_index(setting, directory, vectors.shape[1], expansion_search)
    started = time.perf_counter()
    step = 200_000
    index.reserve(len(vectors))  # as ``logo-ann index rebuild`` builds from the store
    for start in range(0, len(vectors), step):
        part = vectors[start : start + step]
        index.add_absent(range(start, start + len(part)), part)
    index.added_absent()
    return index, time.perf_counter() - started


def narrow_at(share: float, expansion_search: int) -> int:
    """The packed index's narrow beam at search beam ``expansion_search`` (0: a fixed beam)."""
    return round(share * expansion_search)


def set_expansion_search(index: Embedded, value: int, narrow_share: float = 0.0) -> None:
    """Change the search beam of a built index (a runtime setting of both engines); the packed
    index's narrow beam keeps its share of it (``narrow_share``, 0: a fixed beam)."""
    if isinstance(index, UsearchIndex):
        index._graph.expansion_search = value  # noqa: SLF001 - the adapter fixes it at construction
    index.params["expansion_search"] = value
    if isinstance(index, PackedIndex):
        index.expansion_search_at = 0  # the beam swept is the beam searched, whatever the index's size
        index.expansion_search_narrow = narrow_at(narrow_share, value)


def timed_searches(index: Embedded, queries: np.ndarray, k: int) -> tuple[list[list[int]], np.ndarray]:
    """Each query through ``index.search`` on this thread; (ids per query, seconds per query)."""
    found: list[list[int]] = []
    seconds = np.empty(len(queries))
    for i, query in enumerate(queries):
        started = time.perf_counter()
        result = index.search(query, k)
        seconds[i] = time.perf_counter() - started
        found.append([n.logo_id for n in result])
    return found, seconds


def resident_bytes(index: Embedded) -> int:
    """What must stay in memory for search speed: the packed graph's arrays as far as they are
    used, or the usearch graph with its quantised vectors (its serialised size; ``memory_usage``
    also counts allocator reserve, not needed data). ``bench.ann_peers`` measures the process."""
    if isinstance(index, PackedIndex):
        return index._graph.resident_bytes()  # noqa: SLF001
    return int(index._graph.serialized_length)  # noqa: SLF001


def measure(
    index: Embedded, setting: Setting, data: Dataset, truth: np.ndarray, expansion_search: int, build_s: float
) -> dict[str, Any]:
    set_expansion_search(index, expansion_search, setting.narrow_share)
    index.search(data.queries[0], 10)  # warm the caches once
    found10, seconds = timed_searches(index, data.queries, 10)
    found100, seconds100 = timed_searches(index, data.queries, 100)
    n = index.count()
    return {
        "benchmark": "ann",
        "n": n,
        "dim": data.vectors.shape[1],
        "queries": len(data.queries),
        **dataclasses.asdict(setting),
        "expansion_search": expansion_search,
        "expansion_search_narrow": narrow_at(setting.narrow_share, expansion_search),
        "setting": setting.label(),
        "recall_at_1": recall_at(found10, truth, 1),
        "recall_at_10": recall_at(found10, truth, 10),
        "recall_at_100": recall_at(found100, truth, 100),
        "qps_one_thread": len(seconds) / float(seconds.sum()),
        "p50_ms": float(np.percentile(seconds, 50) * 1e3),
        "p99_ms": float(np.percentile(seconds, 99) * 1e3),
        "qps_one_thread_k100": len(seconds100) / float(seconds100.sum()),
        "build_s": build_s,
        "build_vectors_per_s": n / build_s if build_s else None,
        "bytes_per_vector": resident_bytes(index) / n,
        "rescore_bytes_per_vector_on_disk": 4 * data.vectors.shape[1] if setting.rescore else 0,
    }


def codes_ceiling(index: Embedded, queries: np.ndarray, truth: np.ndarray, k: int = 10) -> float | None:
    """Recall@k of *exact* search over the index's int8 codes: what quantisation alone allows,
    whatever the graph (numpy over the packed codes; usearch's brute force over its codes)."""
    codec = index._codec  # noqa: SLF001
    if codec is None:
        return None
    if isinstance(index, PackedIndex):
        state = index._graph.state  # noqa: SLF001
        codes = state.codes[: state.count]
        best_ids = np.zeros((len(queries), 0), np.int64)
        best = np.zeros((len(queries), 0), np.float32)
        turned = codec.encode(queries).astype(np.float32)
        for start in range(0, len(codes), 65_536):
            chunk = codes[start : start + 65_536].astype(np.float32)
            scores = (turned @ chunk.T) / np.linalg.norm(chunk, axis=1)
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            ids = np.concatenate([best_ids, state.keys[start + top]], axis=1)
            values = np.concatenate([best, np.take_along_axis(scores, top, axis=1)], axis=1)
            keep = np.argsort(-values, axis=1, kind="stable")[:, :k]
            best_ids, best = np.take_along_axis(ids, keep, axis=1), np.take_along_axis(values, keep, axis=1)
        return recall_at(best_ids, truth, k)
    found = index._graph.search(codec.encode(queries), k, exact=True, threads=os.cpu_count() or 1)  # noqa: SLF001
    return recall_at(np.asarray(found.keys, np.int64), truth, k)


def exact_record(data: Dataset, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Ground truth by exact search; its batched all-core time is the baseline for the speed-up."""
    started = time.perf_counter()
    truth, _ = exact_neighbours(data.vectors, data.queries, k)
    seconds = time.perf_counter() - started
    record = {
        "benchmark": "ann_exact",
        "n": len(data.vectors),
        "dim": data.vectors.shape[1],
        "queries": len(data.queries),
        "k": k,
        "threads": os.cpu_count(),
        "seconds": seconds,
        "qps_batched_all_cores": len(data.queries) / seconds,
    }
    return truth, record


def run(
    data: Dataset,
    settings: Sequence[Setting],
    expansions: Sequence[int],
    workdir: Path,
    default_expansion: int = DEFAULT_EF,
    swept: Setting = DEFAULT,
    keep: Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Records: the exact baseline, then each setting at each search expansion.

    With ``keep``, the index built at the ``swept`` setting is saved there (for the API stage)
    instead of being deleted."""
    truth, exact = exact_record(data, 100)
    yield exact
    for setting in settings:
        index, build_s = build(setting, data.vectors, workdir / "ann-index", default_expansion)
        log.info("built %s on %d vectors in %.1f s", setting.label(), len(data.vectors), build_s)
        sweep = sorted({*expansions, default_expansion}) if setting == swept else [default_expansion]
        ceiling = codes_ceiling(index, data.queries, truth) if setting == swept else None
        for expansion in sweep:
            record = measure(index, setting, data, truth, expansion, build_s)
            if ceiling is not None:
                record["recall_at_10_exact_over_codes"] = ceiling
            record["speedup_vs_exact"] = record["qps_one_thread"] / exact["qps_batched_all_cores"]
            log.info(
                "%s ef=%d: recall@10 %.4f, %.0f q/s",
                setting.label(),
                expansion,
                record["recall_at_10"],
                record["qps_one_thread"],
            )
            yield record
        if keep is not None and setting == swept:
            set_expansion_search(index, default_expansion, setting.narrow_share)
            index.flush()
            index.close()
            shutil.rmtree(keep, ignore_errors=True)
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(workdir / "ann-index"), str(keep))
        else:
            index.close()
        del index
    shutil.rmtree(workdir / "ann-index", ignore_errors=True)
