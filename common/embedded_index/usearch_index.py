"""``UsearchIndex``: the embedded ANN index (usearch HNSW) persisted in a directory.

The graph holds int8 codes (``_int8_codec``: rotated, then scaled per vector, so their cosine is
the original's within about 0.1 %) or f16/f32 vectors. With ``rescore`` the float32 vectors also
live in an append-only memory-mapped file and every search re-ranks ``max(k * oversample, k + 16)``
graph candidates by exact dot product; that costs random reads of a file that is not meant to be
resident, for a small gain in recall over the int8 codes alone (``bench/results``).

On disk (see ``_index_files``): ``meta.json`` names the committed generation's files, the graph
``index-<gen>.usearch``, the id → row map ``rows-<gen>.npy`` and the shared ``vectors-*.f32``.
``flush`` commits a new generation atomically under an exclusive ``flock``; a missing, partial or
corrupt save is logged and the index starts empty, to be rebuilt from the metadata store, which
stays the source of truth. ``applied_seq`` records the last store change the index contains.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # noqa: F401  (must be loaded before usearch; see common/adapters/__init__.py)

from common.domain import Neighbour
from common.embedded_index import _index_files as files
from common.embedded_index._index_persistence import Persistence
from common.embedded_index._index_rows import checked_rows, ranked
from common.embedded_index._int8_codec import CODEC, Int8Codec
from common.embedded_index._usearch_query import raw_search
from common.embedded_index._vector_file import MISSING, RowMap, VectorFile
from common.errors import ConfigError, InternalError

from usearch.index import Index  # isort: skip  (after onnxruntime)

log = logging.getLogger(__name__)

FORMAT = 2  # 2: int8 codes from ``_int8_codec``; an index of another format is rebuilt from the store
DTYPES = ("f32", "f16", "i8")
# Threads inserting into a nearly empty graph race for its few entry points and now and then leave
# a node unreachable (about 1 build in 100 at 100 nodes); the first nodes go in one at a time.
SERIAL_SEED = 1024


class UsearchIndex(Persistence):
    """A ``VectorIndex`` over cosine similarity of L2-normalised vectors, keyed by logo id."""

    _graph: Index

    def __init__(
        self,
        directory: Path,
        dim: int,
        *,
        dtype: str = "i8",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 128,
        rescore: bool = False,
        oversample: int = 4,
        threads: int = 0,
    ) -> None:
        if dtype not in DTYPES:
            raise ConfigError(f"usearch dtype must be one of {DTYPES}, got {dtype!r}")
        self.directory, self.dim, self.dtype = Path(directory), int(dim), dtype
        self.params = {
            "connectivity": connectivity,
            "expansion_add": expansion_add,
            "expansion_search": expansion_search,
        }
        self.rescore, self.oversample, self.threads = rescore, max(1, oversample), threads
        self.file_format = FORMAT
        self._codec = Int8Codec(self.dim) if dtype == "i8" else None
        self.codec_name = CODEC if self._codec is not None else None
        self._mutex = threading.RLock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._start_empty()
        self._load()

    # --- state ---------------------------------------------------------------------------------
    def _new_graph(self) -> Index:
        params = self.params
        return Index(
            ndim=self.dim,
            metric="cos",
            dtype=self.dtype,
            connectivity=params["connectivity"],
            expansion_add=params["expansion_add"],
            expansion_search=params["expansion_search"],
        )

    def _start_empty(self) -> None:
        self._graph = self._new_graph()
        self._rows = RowMap()
        self._vectors: VectorFile | None = None  # created on the first write
        self._applied_seq, self._generation, self._dirty = 0, 0, False
        self._stamp: tuple[int, int, int] | None = None

    def _adopt(self, state: Any, stamp: tuple[int, int, int] | None) -> None:
        self._graph, self._rows, vectors, self._applied_seq, self._generation = state
        if self._vectors is not None and self._vectors is not vectors:
            self._vectors.close()
        self._vectors, self._dirty, self._stamp = vectors, False, stamp

    def _read_generation(self, meta: dict[str, Any]) -> tuple[Index, RowMap, VectorFile | None, int, int]:
        expected = {
            "format": FORMAT,
            "dim": self.dim,
            "dtype": self.dtype,
            "codec": self.codec_name,
            "rescore": self.rescore,
        }
        for key, value in expected.items():
            if meta.get(key) != value:
                raise InternalError(f"saved {key}={meta.get(key)!r}, this index wants {value!r}")
        graph_path = self.directory / meta["index_file"]
        if graph_path.stat().st_size != meta["index_bytes"] or files.crc32_of(graph_path) != meta["index_crc32"]:
            raise InternalError(f"{graph_path.name} does not match its recorded size and checksum")
        graph = self._new_graph()
        graph.load(str(graph_path))
        vectors, rows = None, RowMap()
        if self.rescore:
            pairs = np.load(self.directory / meta["rows_file"], allow_pickle=False).reshape(-1, 2)
            if meta.get("vectors_file"):
                path = self.directory / meta["vectors_file"]
                if not path.is_file():
                    raise InternalError(f"{path.name} is missing")
                vectors = VectorFile(path, self.dim)
            if len(pairs) != len(graph) or (len(pairs) and pairs[:, 1].max() >= (vectors.rows if vectors else 0)):
                raise InternalError("row map and vectors file disagree with the graph")
            rows = RowMap(pairs[:, 0], pairs[:, 1])
        return graph, rows, vectors, int(meta["applied_seq"]), int(meta["generation"])

    # --- writes --------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        keys, matrix = self._checked(ids, vectors)
        if not len(keys):
            return
        with self._mutex:
            self._remove_present(keys)
            if self.rescore:
                with files.locked(self.directory, exclusive=True):
                    if self._vectors is None:
                        self._vectors = VectorFile.create(self.directory, self.dim)
                    rows = self._vectors.append(matrix)
                self._rows.assign(keys.astype(np.int64), rows)
            self._add(keys, self._encoded(matrix))
            self._dirty = True

    def _add(self, keys: np.ndarray, codes: np.ndarray) -> None:
        serial = min(len(keys), max(0, SERIAL_SEED - len(self._graph)))
        if serial:
            self._graph.add(keys[:serial], codes[:serial], threads=1)
        if serial < len(keys):
            self._graph.add(keys[serial:], codes[serial:], threads=self.threads)

    def _encoded(self, matrix: np.ndarray) -> np.ndarray:
        """What the graph stores for these float32 rows: int8 codes, or the rows (f16/f32 are cast by usearch)."""
        return self._codec.encode(matrix) if self._codec is not None else matrix

    def _checked(self, ids: Sequence[int], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, matrix = checked_rows(ids, vectors, self.dim)
        return keys.astype(np.uint64), matrix

    def delete(self, ids: Iterable[int]) -> None:
        keys = np.asarray(list(ids), dtype=np.uint64).reshape(-1)
        if not len(keys):
            return
        with self._mutex:
            present = self._remove_present(keys)
            if len(present):
                self._rows.discard(present.astype(np.int64))
                self._dirty = True

    def _remove_present(self, keys: np.ndarray) -> np.ndarray:
        """Remove those of ``keys`` the graph holds (caller holds the mutex); returns them."""
        present: np.ndarray = keys[np.asarray(self._graph.contains(keys), bool).reshape(-1)]
        if len(present):
            self._graph.remove(present)
        return present

    def reserve(self, more: int) -> None:
        """Nothing to do: this usearch build has no reserve call and grows its own storage."""

    def add_absent(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        self.upsert(ids, vectors)  # its look-up is a hash probe per id: nothing to save

    def clear(self) -> None:
        """Forget everything (in memory); the next ``flush`` commits the empty index."""
        with self._mutex:
            old = self._vectors
            generation = self._generation
            self._start_empty()
            self._generation, self._dirty = generation, True
            if old is not None:
                old.close()

    # --- reads ---------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise InternalError(f"query has {query.shape[0]} dimensions, the index {self.dim}")
        graph, rows, vectors = self._graph, self._rows, self._vectors
        size = len(graph)
        if k <= 0 or size == 0:
            return []
        wanted = max(k * self.oversample, k + 16) if self.rescore else k
        wanted = min(size, wanted + (1 if exclude is not None else 0))
        keys, distances = raw_search(graph, self._codec.encode_one(query) if self._codec is not None else query, wanted)
        cosines = 1.0 - distances
        if vectors is not None and len(keys):
            row_of = rows.lookup(keys)
            have = row_of != MISSING
            cosines[have] = vectors.read(row_of[have]) @ query
        return ranked(keys, cosines, k, exclude)

    def ids(self) -> set[int]:
        return {int(key) for key in np.asarray(self._graph.keys, dtype=np.int64)}

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        keys = np.asarray(list(ids), dtype=np.int64).reshape(-1)
        if not len(keys):
            return {}
        present = keys[np.asarray(self._graph.contains(keys.astype(np.uint64)), bool).reshape(-1)]
        if self.rescore:
            if self._vectors is None:
                return {}
            row_of = self._rows.lookup(present)
            ok = row_of != MISSING
            return dict(zip(present[ok].tolist(), self._vectors.read(row_of[ok]), strict=True))
        if not len(present):
            return {}
        if self._codec is not None:
            codes: Any = self._graph.get(present.astype(np.uint64), dtype="i8")
            stored = self._codec.decode(np.asarray(codes).reshape(len(present), self.dim))
        else:
            stored = np.asarray(self._graph.get(present.astype(np.uint64), dtype="f32"), np.float32)
        return {int(key): vec.reshape(-1) for key, vec in zip(present, stored, strict=True)}

    def close(self) -> None:
        """Release the vectors file (unsaved changes are dropped; ``flush`` first to keep them)."""
        with self._mutex:
            if self._vectors is not None:
                self._vectors.close()

    def count(self) -> int:
        return len(self._graph)

    def health(self) -> Mapping[str, Any]:
        return {
            "backend": "usearch",
            "status": "ok",
            "count": self.count(),
            "dim": self.dim,
            "dtype": self.dtype,
            "codec": self.codec_name,
            "rescore": self.rescore,
            "applied_seq": self._applied_seq,
            "generation": self._generation,
            "unsaved_changes": self._dirty,
            "directory": str(self.directory),
        }
