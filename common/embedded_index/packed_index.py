"""``PackedIndex``: the embedded ANN index (packed HNSW over int8 codes) persisted in a directory.

The graph (``_packed_hnsw``) holds each vector as its int8 code (``_int8_codec``: rotated, then
scaled, so the codes' cosine is the original's within about 0.1 %), a 4-bit residual per component
(the code's rounding error, 16 times finer), and its level-0 links as ids of as few bits as the
vector count needs: at a million 512-d vectors, about 860 bytes each. A search walks the graph on
the codes, then ranks its best ``rerank`` candidates again by the refined vectors (code plus
residual) against the float query: on data whose 10th and 11th neighbours nearly tie, the codes
alone cap recall@10 near 0.96 where the re-ranked search passes 0.99 (``bench/ANALYSIS.md``).

On disk (see ``_index_files``): ``meta.json`` names the committed generation's graph file
``index-<gen>.packed`` (every array in one ``.npz``). ``flush`` commits a new generation atomically
under an exclusive ``flock``; a missing, partial or corrupt save is logged and the index starts
empty, to be rebuilt from the metadata store, which stays the source of truth. ``applied_seq``
records the last store change the index contains.

An update or delete leaves the old vector in the graph, marked removed (searches walk through it
but never return it); when removed vectors outnumber live ones, ``flush`` rebuilds the graph from
the live codes. Upserting a vector that is already stored, code for code, changes nothing.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.domain import Neighbour
from common.embedded_index import _index_files as files
from common.embedded_index._index_persistence import Persistence
from common.embedded_index._index_rows import checked_rows, ranked_arrays
from common.embedded_index._int8_codec import CODEC, Int8Codec
from common.embedded_index._packed_hnsw import PackedGraph, kernel
from common.embedded_index._vector_file import RowMap
from common.errors import InternalError

log = logging.getLogger(__name__)

# 1: ``_packed_hnsw`` arrays over ``_int8_codec`` codes; 2: with 4-bit residuals for re-ranking (a
# saved index of format 1 is not read: it starts empty and is rebuilt from the metadata store)
FORMAT = 2
RERANK = 32  # candidates ranked again by their refined vectors (at least k)
COMPACT_FROM = 1024  # removed vectors below which the graph is never rebuilt at flush
# a saved graph is used whatever beams built it
BEAMS = ("expansion_add", "expansion_add_seeded", "expansion_search")


class PackedIndex(Persistence):
    """A ``VectorIndex`` over cosine similarity of L2-normalised vectors, keyed by logo id."""

    backend = "packed"
    graph_suffix = "packed"

    def __init__(
        self,
        directory: Path,
        dim: int,
        *,
        connectivity: int = 16,
        connectivity_base: int = 0,
        expansion_add: int = 256,
        expansion_add_seeded: int = 0,
        expansion_search: int = 128,
        rerank: int = RERANK,
        expansion_search_at: int = 0,
        expansion_search_growth: float = 0.5,
        expansion_search_narrow: int = 0,
        near_tie_gap: float = 0.002,
    ) -> None:
        self.directory, self.dim, self.dtype = Path(directory), int(dim), "i8"
        self.params = {
            "connectivity": int(connectivity),
            "connectivity_base": int(connectivity_base or 2 * connectivity),
            "expansion_add": int(expansion_add),
            "expansion_add_seeded": int(expansion_add_seeded),
            "expansion_search": int(expansion_search),
        }
        self.rerank = int(rerank)
        # the collection size ``expansion_search`` is set for (0: the beam is fixed); see ``beam``
        self.expansion_search_at = int(expansion_search_at)
        self.expansion_search_growth = float(expansion_search_growth)
        # a search at this narrower beam answers unless its k-th and (k+1)-th refined cosines are within
        # ``near_tie_gap``; then the search goes on to ``expansion_search`` (0: always the full beam)
        self.expansion_search_narrow, self.near_tie_gap = int(expansion_search_narrow), float(near_tie_gap)
        self.rescore, self.file_format, self.codec_name = False, FORMAT, CODEC
        self._codec = Int8Codec(self.dim)
        self._mutex = threading.RLock()
        self._new_graph()  # checks the parameters before anything touches the directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._start_empty()
        self._load()

    # --- state -----------------------------------------------------------------------------------
    def _new_graph(self) -> PackedGraph:
        p = self.params
        return PackedGraph(
            self.dim,
            m=p["connectivity"],
            m0=p["connectivity_base"],
            expansion_add=p["expansion_add"],
            expansion_add_seeded=p["expansion_add_seeded"],
        )

    def _start_empty(self) -> None:
        self._graph: PackedGraph = self._new_graph()
        self._rows, self._vectors = RowMap(), None
        self._applied_seq, self._generation, self._dirty = 0, 0, False
        self._stamp: tuple[int, int, int] | None = None

    def _adopt(self, state: Any, stamp: tuple[int, int, int] | None) -> None:
        self._graph, self._applied_seq, self._generation = state
        self._dirty, self._stamp = False, stamp

    def _read_generation(self, meta: dict[str, Any]) -> tuple[PackedGraph, int, int]:
        expected = {"format": FORMAT, "dim": self.dim, "dtype": self.dtype, "codec": self.codec_name, **self.params}
        for key, value in expected.items():  # the beams are settings of later calls, not of the saved graph
            if key not in BEAMS and meta.get(key) != value:
                raise InternalError(f"saved {key}={meta.get(key)!r}, this index wants {value!r}")
        path = self.directory / meta["index_file"]
        if path.stat().st_size != meta["index_bytes"] or files.crc32_of(path) != meta["index_crc32"]:
            raise InternalError(f"{path.name} does not match its recorded size and checksum")
        graph = self._new_graph()
        graph.load(str(path))
        if len(graph) != meta["count"]:
            raise InternalError(f"{path.name} holds {len(graph)} vectors, its generation says {meta['count']}")
        return graph, int(meta["applied_seq"]), int(meta["generation"])

    # --- writes ----------------------------------------------------------------------------------
    def _slots_of(self, keys: np.ndarray) -> dict[int, int]:
        """Live slot of each of ``keys`` the graph holds (caller holds the mutex); rows staged by
        ``add_absent`` are linked first, so that none is missed."""
        self._graph.link_staged()
        state = self._graph.state
        stored = state.keys[: state.count]
        hits = np.flatnonzero(np.isin(stored, keys) & self._graph.live())
        return dict(zip(stored[hits].tolist(), hits.tolist(), strict=True))

    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        keys, matrix = checked_rows(ids, vectors, self.dim)
        if not len(keys):
            return
        codes, residuals = self._codec.encode_refined(matrix)
        with self._mutex:
            slot_of = self._slots_of(keys)
            if slot_of:
                state = self._graph.state
                present = np.array([slot_of.get(key, -1) for key in keys.tolist()], np.int64)
                known = present >= 0
                same = np.zeros(len(keys), bool)
                same[known] = (state.codes[present[known]] == codes[known]).all(axis=1) & (
                    state.residuals[present[known]] == residuals[known]
                ).all(axis=1)
                self._graph.remove(present[known & ~same])
                keys, codes, residuals = keys[~same], codes[~same], residuals[~same]
            if len(keys):
                self._graph.add(keys, codes, residuals)
                self._dirty = True

    def reserve(self, more: int) -> None:
        with self._mutex:
            self._graph.reserve(self._graph.state.count + int(more))

    def add_absent(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """``upsert`` without looking the ids up: a rebuild's, whose ids are neither in the index nor
        repeated. The look-up reads every stored key (``np.isin``) once per batch, so its cost grows with
        the square of a rebuild's size: 8-14 ms a 10,000-row batch at 5M keys, about 5 s over the whole
        5M rebuild (small beside the graph's build; the reservation is what lowers the peak)."""
        keys, matrix = checked_rows(ids, vectors, self.dim)
        if len(keys):
            codes, residuals = self._codec.encode_refined(matrix)
            with self._mutex:
                self._graph.stage(keys, codes, residuals)  # linked as one batch by ``added_absent``
                self._dirty = True

    def added_absent(self) -> None:
        with self._mutex:
            self._graph.link_staged()

    def delete(self, ids: Iterable[int]) -> None:
        keys = np.asarray(list(ids), dtype=np.int64).reshape(-1)
        if not len(keys):
            return
        with self._mutex:
            slots = list(self._slots_of(keys).values())
            if slots:
                self._graph.remove(np.asarray(slots, np.int64))
                self._dirty = True

    def clear(self) -> None:
        """Forget everything (in memory); the next ``flush`` commits the empty index."""
        with self._mutex:
            generation = self._generation
            self._start_empty()
            self._generation, self._dirty = generation, True

    def _compact_if_needed(self) -> None:
        """Rebuild the graph from its live codes when removed vectors outnumber them."""
        graph = self._graph
        if graph.removed < max(COMPACT_FROM, len(graph)):
            return
        state, live = graph.state, graph.live()
        fresh = self._new_graph()
        slots = np.flatnonzero(live)
        for start in range(0, len(slots), 65_536):
            chunk = slots[start : start + 65_536]
            fresh.add(state.keys[chunk], state.codes[chunk], state.residuals[chunk])
        log.info("rebuilt packed graph %s without its %d removed vectors", self.directory, graph.removed)
        self._graph = fresh

    # --- reads -----------------------------------------------------------------------------------
    def beam(self, wanted: int = 0) -> int:
        """The search beam now: ``expansion_search``, times how many times ``expansion_search_at``
        vectors the index holds, when it holds more, to the power ``expansion_search_growth`` (the
        same beam finds fewer of the true neighbours in a larger graph: at 5M CLIP-like vectors beam
        430, 192 widened by the square root, gave recall@10 0.9891 where 192 gives 0.9946 at 1M, and
        512 gave 0.991, ``bench/ANALYSIS.md``), and at least ``wanted``."""
        ef, at = self.params["expansion_search"], self.expansion_search_at
        count = len(self._graph)
        if 0 < at < count:
            ef = math.ceil(ef * (count / at) ** self.expansion_search_growth)
        return max(ef, wanted)

    def narrow_beam(self, wanted: int = 0) -> int:
        """The narrow beam now (0: none): ``expansion_search_narrow`` widened as ``beam`` widens its beam."""
        if self.expansion_search_narrow <= 0:
            return 0
        return max(math.ceil(self.expansion_search_narrow * self.beam() / self.params["expansion_search"]), wanted)

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise InternalError(f"query has {query.shape[0]} dimensions, the index {self.dim}")
        graph = self._graph
        if k <= 0 or len(graph) == 0:
            return []
        wanted = k + (1 if exclude is not None else 0)
        ef = self.beam(wanted)
        narrow, gap = self.narrow_beam(wanted), self.near_tie_gap
        rerank = max(self.rerank, wanted)
        keys, distances = graph.query(query, k, ef, rerank, exclude, narrow=narrow, gap=gap, signs=self._codec.signs)
        return [Neighbour(key, distance) for key, distance in zip(keys, distances, strict=True)]

    def search_many(self, vectors: np.ndarray, k: int, exclude: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``search`` of each row of ``vectors`` (float32 ``[n, dim]``) with ``exclude[i]`` left
        out of row i's results, as arrays: ids (int64) and distances (float64), best first, the
        same to the bit as ``search`` row by row. The rows are searched in one batch, a share per
        thread (``PackedGraph.search_keys_many``): at 100k 512-d vectors, 100 searches of 66
        take about 15 ms on one thread (8 ms on two) where ``search`` one by one takes 37 ms, most
        of the difference the ``Neighbour`` objects and per-call steps (``bench/annotation.py``)."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if queries.shape != (len(exclude), self.dim):
            raise InternalError(f"{len(exclude)} queries of {self.dim} dimensions wanted, got {queries.shape}")
        graph = self._graph
        if k <= 0 or len(graph) == 0 or not len(queries):
            return [(np.empty(0, np.int64), np.empty(0, np.float64)) for _ in exclude]
        wanted = k + 1
        turned = self._codec.rotate(queries)  # row for row as ``search`` turns each (``ph_turn``)
        codes = np.stack([self._codec.code_of_turned(row) for row in turned])
        ef, rerank, narrow = self.beam(wanted), max(self.rerank, wanted), self.narrow_beam(wanted)
        keys, cosines = graph.search_keys_many(codes, turned, wanted, ef, rerank, narrow, self.near_tie_gap)
        found = keys >= 0
        return [
            ranked_arrays(keys[row][found[row]], cosines[row][found[row]], k, int(skip))
            for row, skip in enumerate(exclude)
        ]

    def ids(self) -> set[int]:
        state = self._graph.state
        return set(state.keys[: state.count][self._graph.live()].tolist())

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        keys = np.asarray(list(ids), dtype=np.int64).reshape(-1)
        if not len(keys):
            return {}
        with self._mutex:
            slot_of = self._slots_of(keys)
            codes = self._graph.state.codes
        if not slot_of:
            return {}
        stored = self._codec.decode(codes[np.asarray(list(slot_of.values()), np.int64)])
        return {key: vector.reshape(-1) for key, vector in zip(slot_of, stored, strict=True)}

    def close(self) -> None:
        """Nothing to release (unsaved changes are dropped; ``flush`` first to keep them)."""

    def count(self) -> int:
        return len(self._graph)

    def health(self) -> Mapping[str, Any]:
        graph = self._graph
        return {
            "backend": "packed",
            "status": "ok",
            "count": self.count(),
            "removed": graph.removed,
            "dim": self.dim,
            "dtype": self.dtype,
            "codec": self.codec_name,
            "link_bits": graph.state.bits,
            "resident_bytes": graph.resident_bytes(),
            "kernel": kernel(),
            **self.params,
            "expansion_search_at": self.expansion_search_at,
            "expansion_search_growth": self.expansion_search_growth,
            "expansion_search_now": self.beam(),
            "expansion_search_narrow_now": self.narrow_beam(),
            "near_tie_gap": self.near_tie_gap,
            "rerank": self.rerank,
            "applied_seq": self._applied_seq,
            "generation": self._generation,
            "unsaved_changes": self._dirty,
            "directory": str(self.directory),
        }
