"""The ANN systems compared in ``bench.ann_peers``, each behind the same small interface.

Every system is built and queried in a fresh child process (``python -m bench.ann_systems``),
so its resident memory can be read from ``/proc/self/status`` without another system's
allocations in the way. The stored vectors are memory-mapped from a ``.npy`` file: those pages
are file-backed (``RssFile``), so the growth of ``RssAnon`` across the build is what the index
itself holds.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import common.adapters  # noqa: F401  (onnxruntime before usearch)
from bench import ann
from common.embedded_index.packed_index import PackedIndex

from usearch.index import Index  # isort: skip

BUILD_THREADS = os.cpu_count() or 1
Searcher = Callable[[np.ndarray, int], np.ndarray]


def rss_anon() -> int:
    """Anonymous resident bytes of this process (``RssAnon`` in ``/proc/self/status``), after
    handing freed heap pages back (``malloc_trim``), so build-time scratch does not count."""
    libc = ctypes.util.find_library("c")
    if libc:
        ctypes.CDLL(libc).malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


class System:
    """Build once; then ``configure(value)`` a search setting and ``search(query, k)`` → ids."""

    name = ""
    knob = ""

    def build(self, vectors: np.ndarray, work: Path) -> None:
        raise NotImplementedError

    def configure(self, value: int) -> None:
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError

    def own_bytes(self) -> int | None:
        """What the library itself reports (file or ``memory_usage``), for comparison."""
        return None


class Project(System):
    """This project's index as ``logo-ann`` serves it: the packed index opened from the directory
    ``bench.ann`` saved, or (``saved`` None) the usearch adapter built here, for comparison."""

    knob = "expansion_search"

    def __init__(self, saved: Path | None, params: dict[str, Any]) -> None:
        self.saved, self.setting = saved, ann.Setting(**params)
        p = self.setting
        if p.engine == "packed":
            narrow = f", narrow {p.narrow_share:g}·ef, gap {p.near_tie_gap:g}" if p.narrow_share else ""
            seeded = f", seeded ef_add={p.expansion_add_seeded}" if p.expansion_add_seeded else ""
            self.name = (
                f"logo-ann packed HNSW (rotated int8 codes, M={p.connectivity}, M0={p.connectivity_base}, "
                f"ef_add={p.expansion_add}{seeded}{narrow})"
            )
        else:
            self.name = f"logo-ann usearch adapter (rotated int8 codes, M={p.connectivity}, ef_add={p.expansion_add})"

    def build(self, vectors: np.ndarray, work: Path) -> None:
        if self.saved is None:
            self.index, _ = ann.build(self.setting, vectors, work / "index", ann.DEFAULT_EF)
            return
        self.index = ann.open_index(self.setting, self.saved, vectors.shape[1], ann.DEFAULT_EF)
        if self.index.count() != len(vectors):
            raise RuntimeError(f"saved index holds {self.index.count()} vectors, expected {len(vectors)}")

    def configure(self, value: int) -> None:
        ann.set_expansion_search(self.index, value, self.setting.narrow_share)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return np.array([n.logo_id for n in self.index.search(query, k)], np.int64)

    def own_bytes(self) -> int | None:
        index = self.index
        if isinstance(index, PackedIndex):
            return ann.resident_bytes(index)
        return int(index._graph.memory_usage)  # noqa: SLF001

    def breakdown(self, queries: np.ndarray, value: int, rounds: int) -> dict[str, Any]:
        """Where a query's time goes, side by side in interleaved rounds at one setting (µs per
        query, medians): the whole ``search``, the query's encoding alone, and the engine's own
        search on the ready codes (the packed graph's ``search_keys``, or usearch's public
        ``Index.search``)."""
        self.configure(value)
        index = self.index
        codec = index._codec  # noqa: SLF001
        assert codec is not None
        codes = codec.encode(queries)
        engine: Callable[[int], object]
        if isinstance(index, PackedIndex):
            graph = index._graph  # noqa: SLF001
            engine = lambda i: graph.search_keys(codes[i], 10, value)  # noqa: E731
        else:
            usearch_graph = index._graph  # noqa: SLF001
            engine = lambda i: usearch_graph.search(codes[i], 10)  # noqa: E731
        steps: dict[str, Callable[[int], object]] = {
            "search_us": lambda i: index.search(queries[i], 10),
            "encode_us": lambda i: codec.encode_one(queries[i]),
            "engine_search_us": engine,
        }
        seen: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                started = time.perf_counter()
                for i in range(len(queries)):
                    step(i)
                seen[name].append((time.perf_counter() - started) / len(queries) * 1e6)
        return {"breakdown_at": value, **{name: float(np.median(times)) for name, times in seen.items()}}


class UsearchCast(System):
    """usearch with its own float → int8 cast (no rotation, no scaling), as a user would call it."""

    knob = "expansion_search"

    def __init__(self, connectivity: int = 16, expansion_add: int = 128) -> None:
        self.m, self.ef_add = connectivity, expansion_add
        self.name = f"usearch int8, own cast, M={connectivity}, ef_add={expansion_add}"

    def build(self, vectors: np.ndarray, work: Path) -> None:
        self.index = Index(
            ndim=vectors.shape[1], metric="cos", dtype="i8", connectivity=self.m, expansion_add=self.ef_add
        )
        for start in range(0, len(vectors), 200_000):
            part = np.ascontiguousarray(vectors[start : start + 200_000])
            self.index.add(np.arange(start, start + len(part)), part, threads=BUILD_THREADS)

    def configure(self, value: int) -> None:
        self.index.expansion_search = value

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(query, k, threads=1).keys, np.int64)

    def own_bytes(self) -> int | None:
        return int(self.index.memory_usage)


class Hnswlib(System):
    knob = "ef"

    def __init__(self, m: int = 16, ef_construction: int = 128) -> None:
        self.m, self.ef_c = m, ef_construction
        self.name = f"hnswlib float32, M={m}, ef_construction={ef_construction}"

    def build(self, vectors: np.ndarray, work: Path) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        self.index.init_index(max_elements=len(vectors), M=self.m, ef_construction=self.ef_c, random_seed=1)
        for start in range(0, len(vectors), 200_000):
            part = np.ascontiguousarray(vectors[start : start + 200_000])
            self.index.add_items(part, np.arange(start, start + len(part)), num_threads=BUILD_THREADS)
        self.index.set_num_threads(1)

    def configure(self, value: int) -> None:
        self.index.set_ef(value)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        labels, _ = self.index.knn_query(query, k)
        return np.asarray(labels, np.int64).reshape(-1)


class Faiss(System):
    """faiss index built from a factory string with inner product; with ``refine`` it is measured
    alone, then wrapped in ``IndexRefineFlat`` (``add_refine``) and measured again."""

    def __init__(self, factory: str, knob: str, refine: int = 0, ef_construction: int = 0) -> None:
        self.factory, self.knob, self.then_refine, self.ef_c = factory, knob, refine, ef_construction
        extra = f", efConstruction={ef_construction}" if ef_construction else ""
        self.name = f"faiss {factory}{extra}"

    def add_refine(self, vectors: np.ndarray) -> None:
        """Wrap the built index in ``IndexRefineFlat``: float32 re-rank of ``then_refine``·k
        candidates, from its own in-memory copy of the vectors."""
        import faiss

        self.index = faiss.IndexRefineFlat(self.index, faiss.swig_ptr(np.ascontiguousarray(vectors)))
        self.index.k_factor = float(self.then_refine)
        self.name += f" + float32 re-rank of {self.then_refine}·k"

    def build(self, vectors: np.ndarray, work: Path) -> None:
        import faiss

        faiss.omp_set_num_threads(BUILD_THREADS)
        index = faiss.index_factory(vectors.shape[1], self.factory, faiss.METRIC_INNER_PRODUCT)
        if self.ef_c:
            faiss.downcast_index(index).hnsw.efConstruction = self.ef_c
        sample = np.ascontiguousarray(vectors[:: max(1, len(vectors) // 200_000)])
        index.train(sample)
        del sample
        for start in range(0, len(vectors), 200_000):
            index.add(np.ascontiguousarray(vectors[start : start + 200_000]))
        self.index = index
        faiss.omp_set_num_threads(1)

    def configure(self, value: int) -> None:
        import faiss

        faiss.ParameterSpace().set_index_parameter(self.index, self.knob, value)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        _, labels = self.index.search(query.reshape(1, -1), k)
        return np.asarray(labels, np.int64).reshape(-1)


def timed(system: System, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    found = np.full((len(queries), k), -1, np.int64)
    seconds = np.empty(len(queries))
    for i, query in enumerate(queries):
        started = time.perf_counter()
        ids = system.search(query, k)
        seconds[i] = time.perf_counter() - started
        found[i, : len(ids)] = ids[:k]
    return found, seconds


def measure(
    system: System, vectors: np.ndarray, queries: np.ndarray, values: list[int], rounds: int, out: Path
) -> list[dict[str, Any]]:
    """Build, read the memory, query; for faiss with ``then_refine``, then the same index wrapped
    in a float32 re-ranker (its memory read again), queried the same way: one record each."""
    before = rss_anon()
    started = time.perf_counter()
    system.build(vectors, out)
    build_s = time.perf_counter() - started
    records = [_queried(system, vectors, queries, values, rounds, out, (before, build_s), "")]
    if isinstance(system, Faiss) and system.then_refine:
        started = time.perf_counter()
        system.add_refine(vectors)
        build_s += time.perf_counter() - started
        records.append(_queried(system, vectors, queries, values, rounds, out, (before, build_s), "refine-"))
    return records


def _queried(
    system: System,
    vectors: np.ndarray,
    queries: np.ndarray,
    values: list[int],
    rounds: int,
    out: Path,
    built: tuple[int, float],
    prefix: str,
) -> dict[str, Any]:
    """``rounds`` rounds over every setting in turn (settings interleaved, so a slow spell hits
    all); per setting the median round's queries/s. ``built``: RssAnon before the build, build s."""
    system.configure(values[0])
    system.search(queries[0], 10)
    grown = rss_anon() - built[0]
    per: dict[int, list[tuple[float, np.ndarray]]] = {v: [] for v in values}
    found: dict[int, np.ndarray] = {}
    for _ in range(rounds):
        for value in values:
            system.configure(value)
            found[value], seconds = timed(system, queries, 10)
            per[value].append((len(seconds) / float(seconds.sum()), seconds))
    settings = []
    for value in values:
        pooled = np.concatenate([s for _, s in per[value]])
        np.save(out / f"found-{prefix}{value}.npy", found[value])
        settings.append(
            {
                "value": value,
                "found": f"found-{prefix}{value}.npy",
                "qps_rounds": [q for q, _ in per[value]],
                "qps_one_thread": float(np.median([q for q, _ in per[value]])),
                "p50_ms": float(np.percentile(pooled, 50) * 1e3),
                "p99_ms": float(np.percentile(pooled, 99) * 1e3),
            }
        )
    own = system.own_bytes()
    extra = system.breakdown(queries, 128, rounds) if isinstance(system, Project) else {}
    return {
        **extra,
        "system": system.name,
        "knob": system.knob,
        "build_s": built[1],
        "rss_anon_growth_bytes": grown,
        "resident_bytes_per_vector": grown / len(vectors),
        "library_bytes_per_vector": own / len(vectors) if own else None,
        "load_average_1m": os.getloadavg()[0],
        "settings": settings,
    }


def make(spec: dict[str, Any]) -> System:
    """The system a spec names (its library imported here, before the memory is first read)."""
    import faiss  # noqa: F401
    import hnswlib  # noqa: F401

    kind = spec["kind"]
    if kind == "project":
        return Project(Path(spec["saved"]) if spec.get("saved") else None, spec["params"])
    if kind == "usearch-cast":
        return UsearchCast(**spec.get("args", {}))
    if kind == "hnswlib":
        return Hnswlib(**spec.get("args", {}))
    if kind == "faiss":
        return Faiss(**spec["args"])
    raise ValueError(f"unknown system {kind!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description="build and query one ANN system (child of bench.ann_peers)")
    parser.add_argument("work", type=Path, help="holds vectors.npy, queries.npy and spec.json; gets result.json")
    args = parser.parse_args()
    spec = json.loads((args.work / "spec.json").read_text())
    vectors = np.load(args.work.parent / "vectors.npy", mmap_mode="r")
    queries = np.load(args.work.parent / "queries.npy")
    records = measure(make(spec), vectors, queries, spec["values"], spec["rounds"], args.work)
    (args.work / "result.json").write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
