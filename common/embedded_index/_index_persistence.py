"""Saving, reloading and catching up an embedded index (``UsearchIndex``, ``PackedIndex``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from common.embedded_index import _index_files as files
from common.embedded_index._vector_file import RowMap, VectorFile
from common.errors import LogoAnnError
from common.ports.metadata_store import MetadataStore


class SavedGraph(Protocol):
    """What ``Persistence`` needs of a graph: its size (live vectors) and a save to one file."""

    def __len__(self) -> int: ...

    def save(self, path: str) -> Any: ...


log = logging.getLogger(__name__)

COMPACT_CHUNK = 65_536


class Persistence:
    """Mixed into ``UsearchIndex`` and ``PackedIndex``; relies on the attributes declared below."""

    backend = "usearch"  # in log lines
    graph_suffix = "usearch"  # the graph file: ``index-<generation>.<suffix>``

    directory: Path
    dim: int
    dtype: str
    params: dict[str, int]
    rescore: bool
    file_format: int
    codec_name: str | None
    _mutex: threading.RLock
    _graph: SavedGraph
    _rows: RowMap
    _vectors: VectorFile | None
    _applied_seq: int
    _generation: int
    _dirty: bool
    _stamp: tuple[int, int, int] | None
    _unreloaded_stamp: tuple[int, int, int] | None = None  # the generation on disk last not reloaded

    @property
    def applied_seq(self) -> int:
        return self._applied_seq

    def set_applied_seq(self, seq: int) -> None:
        with self._mutex:
            self._applied_seq, self._dirty = int(seq), True

    def upsert(self, ids: Any, vectors: np.ndarray) -> None:
        raise NotImplementedError  # provided by the index

    def delete(self, ids: Any) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def reserve(self, more: int) -> None:
        raise NotImplementedError  # room for ``more`` vectors, when the index can allocate ahead

    def add_absent(self, ids: Any, vectors: np.ndarray) -> None:
        raise NotImplementedError  # ``upsert`` of ids known to be absent (a rebuild's)

    def added_absent(self) -> None:
        """The end of a run of ``add_absent``: whatever it held back is in the index after this."""

    def _read_generation(self, meta: dict[str, Any]) -> Any:
        raise NotImplementedError  # the graph and whatever else the generation holds

    def _adopt(self, state: Any, stamp: tuple[int, int, int] | None) -> None:
        raise NotImplementedError  # takes ``_read_generation``'s state as the current one

    def _load(self) -> bool:
        """Load the committed generation; on any inconsistency log it and stay empty."""
        with files.locked(self.directory, exclusive=False):
            stamp = files.meta_stamp(self.directory)
            meta = files.read_meta(self.directory)
            if meta is None:
                return False
            try:
                state = self._read_generation(meta)
            except (LogoAnnError, OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError) as exc:
                log.warning(
                    "%s index in %s is unusable (%s); starting empty, rebuild from the store",
                    self.backend,
                    self.directory,
                    exc,
                )
                self._stamp = stamp
                return False
        self._adopt(state, stamp)
        log.info(
            "loaded %s index from %s: %d vectors, generation %d, applied_seq %d",
            self.backend,
            self.directory,
            len(self._graph),
            self._generation,
            self._applied_seq,
        )
        return True

    def flush(self) -> None:
        """Commit the in-memory state as a new generation, atomically, under an exclusive lock."""
        with self._mutex, files.locked(self.directory, exclusive=True):
            disk = files.read_meta(self.directory) or {}
            disk_generation = int(disk.get("generation", 0) or 0)
            if not self._dirty and disk_generation == self._generation and disk:
                return
            self._compact_if_needed()
            generation = max(self._generation, disk_generation) + 1
            meta = self._write_generation(generation)
            files.write_meta(self.directory, meta)
            files.remove_unreferenced(self.directory, {meta["index_file"], meta["rows_file"], meta["vectors_file"]})
            self._generation, self._dirty = generation, False
            self._stamp = files.meta_stamp(self.directory)
        log.info(
            "saved %s index %s: generation %d, %d vectors, applied_seq %d",
            self.backend,
            self.directory,
            generation,
            len(self._graph),
            self._applied_seq,
        )

    def _write_generation(self, generation: int) -> dict[str, Any]:
        graph_path = self.directory / f"index-{generation}.{self.graph_suffix}"
        files.write_atomically(graph_path, lambda tmp: self._graph.save(str(tmp)))
        rows_name = f"rows-{generation}.npy"
        keys, rows = self._rows.items()
        pairs = np.stack([keys, rows], axis=1).astype(np.int64)

        def write_rows(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, pairs, allow_pickle=False)

        files.write_atomically(self.directory / rows_name, write_rows)
        if self._vectors is not None:
            self._vectors.sync()
        return {
            "format": self.file_format,
            "dim": self.dim,
            "dtype": self.dtype,
            "codec": self.codec_name,
            "metric": "cos",
            "rescore": self.rescore,
            **self.params,
            "generation": generation,
            "applied_seq": self._applied_seq,
            "count": len(self._graph),
            "index_file": graph_path.name,
            "index_bytes": graph_path.stat().st_size,
            "index_crc32": files.crc32_of(graph_path),
            "rows_file": rows_name,
            "vectors_file": self._vectors.name if self._vectors is not None else None,
        }

    def _compact_if_needed(self) -> None:
        """Copy live vectors to a fresh file when ours was replaced by another writer or is mostly garbage."""
        vectors = self._vectors
        if vectors is None:
            return
        gone = not vectors.path.exists()
        if not gone and vectors.rows <= 2 * len(self._graph) + COMPACT_CHUNK:
            return
        keys, rows = self._rows.items()
        fresh = VectorFile.create(self.directory, self.dim)
        new_rows = np.empty_like(rows)
        for start in range(0, len(rows), COMPACT_CHUNK):
            chunk = slice(start, start + COMPACT_CHUNK)
            new_rows[chunk] = fresh.append(vectors.read(rows[chunk]))
        self._vectors, self._rows = fresh, RowMap(keys, new_rows)
        vectors.close()
        log.info("compacted usearch vectors into %s (%d rows)", fresh.name, len(rows))

    def reload_if_changed(self) -> bool:
        """Load a generation another process committed since we last loaded or saved; True if reloaded."""
        stamp = files.meta_stamp(self.directory)
        if stamp == self._stamp:
            return False
        with self._mutex:
            if self._dirty:  # harmless: catch_up applies the other writer's changes from the store
                if stamp != self._unreloaded_stamp:  # said once per generation on disk
                    self._unreloaded_stamp = stamp
                    log.info("%s index %s changed on disk; unsaved changes here, catching up from the store "
                             "instead of reloading", self.backend, self.directory)  # fmt: skip
                return False
            return self._load()

    def catch_up(self, store: MetadataStore, batch_size: int = 10_000) -> int:
        """Apply the store's changes after ``applied_seq`` (rebuilding when the index is empty)."""
        if self._applied_seq == 0 and len(self._graph) == 0:
            return self.rebuild(store, batch_size)
        applied = 0
        while changes := sorted(store.changes_since(self._applied_seq, limit=batch_size), key=lambda c: c.seq):
            latest = {change.logo_id: change.op for change in changes}  # the last change of an id wins
            wanted = [logo_id for logo_id, op in latest.items() if op == "upsert"]
            found = store.get_embeddings(wanted) if wanted else {}
            gone = [logo_id for logo_id, op in latest.items() if op != "upsert" or logo_id not in found]
            with self._mutex:
                self.delete(gone)
                if found:
                    ids = list(found)
                    self.upsert(ids, np.stack([found[i] for i in ids]))
                self._applied_seq, self._dirty = changes[-1].seq, True
            applied += len(changes)
        if applied:
            log.info("%s index caught up %d changes to seq %d", self.backend, applied, self._applied_seq)
        return applied

    def rebuild(self, store: MetadataStore, batch_size: int = 10_000) -> int:
        """Clear and re-add every embedding; changes made meanwhile are replayed by ``catch_up``."""
        seq = store.last_change_seq()  # read first: anything later is replayed, never missed
        with self._mutex:
            self.clear()
            self.reserve(store.embedding_count())
            added = 0
            for ids, vectors in store.iter_embeddings(batch_size=batch_size):
                self.add_absent(ids, vectors)  # the store's ids are unique, the index was just cleared
                added += len(ids)
            self.added_absent()
            self._applied_seq, self._dirty = seq, True
        log.info("rebuilt %s index %s: %d vectors at seq %d", self.backend, self.directory, added, seq)
        return added
