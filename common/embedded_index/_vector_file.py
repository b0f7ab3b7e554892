"""Full-precision vectors kept beside a quantised graph, for exact re-ranking.

``VectorFile`` is an append-only file of float32 rows, read through ``np.memmap`` so the
vectors stay on disk (the page cache holds the hot ones). Committed rows are never rewritten, so
a saved generation stays valid while other writers append. ``RowMap`` maps logo ids to rows
compactly: sorted numpy arrays plus a small dict of recent changes, merged when it grows.
"""

from __future__ import annotations

import os
import uuid
import weakref
from pathlib import Path

import numpy as np

MISSING = -1


class RowMap:
    """logo id → row; ``MISSING`` (-1) for ids it does not hold."""

    def __init__(self, keys: np.ndarray | None = None, rows: np.ndarray | None = None, merge_at: int = 65_536) -> None:
        keys = np.zeros(0, np.int64) if keys is None else np.asarray(keys, np.int64)
        rows = np.zeros(0, np.int64) if rows is None else np.asarray(rows, np.int64)
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows = keys[order], rows[order]
        self._recent: dict[int, int] = {}
        self._merge_at = merge_at

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, np.int64).ravel()
        rows = np.full(len(keys), MISSING, np.int64)
        if len(self._keys):
            pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            found = self._keys[pos] == keys
            rows[found] = self._rows[pos[found]]
        if self._recent:
            for i, key in enumerate(keys.tolist()):
                row = self._recent.get(key)
                if row is not None:
                    rows[i] = row
        return rows

    def assign(self, keys: np.ndarray, rows: np.ndarray) -> None:
        self._recent.update(zip(np.asarray(keys, np.int64).tolist(), np.asarray(rows, np.int64).tolist(), strict=True))
        if len(self._recent) >= self._merge_at:
            self._merge()

    def discard(self, keys: np.ndarray) -> None:
        self.assign(keys, np.full(len(keys), MISSING, np.int64))

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, rows) of every live entry, sorted by key."""
        self._merge()
        return self._keys.copy(), self._rows.copy()

    def _merge(self) -> None:
        if not self._recent:
            return
        new_keys = np.fromiter(self._recent.keys(), np.int64, len(self._recent))
        new_rows = np.fromiter(self._recent.values(), np.int64, len(self._recent))
        stale = np.isin(self._keys, new_keys)
        keys = np.concatenate([self._keys[~stale], new_keys])
        rows = np.concatenate([self._rows[~stale], new_rows])
        live = rows != MISSING
        order = np.argsort(keys[live], kind="stable")
        self._keys, self._rows = keys[live][order], rows[live][order]
        self._recent = {}


class VectorFile:
    """Append-only float32 rows of width ``dim``; appends must run under the directory's lock."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path, self.dim = path, dim
        self._row_bytes = 4 * dim
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # kept open: valid even once unlinked
        self._file = os.fdopen(self._fd, "r+b", buffering=0)
        self._closer = weakref.finalize(self, self._file.close)
        self._view: np.ndarray = np.zeros((0, dim), np.float32)
        self._remap()

    @classmethod
    def create(cls, directory: Path, dim: int) -> VectorFile:
        return cls(directory / f"vectors-{uuid.uuid4().hex[:12]}.f32", dim)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rows(self) -> int:
        return len(self._view)

    def append(self, vectors: np.ndarray) -> np.ndarray:
        """Write rows at the end of the file (after anything other writers added); returns their numbers."""
        size = os.fstat(self._fd).st_size
        start = -(-size // self._row_bytes)  # a torn row left by a crash is skipped, not reused
        data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        os.pwrite(self._fd, data, start * self._row_bytes)
        self._remap()
        return np.arange(start, start + len(vectors), dtype=np.int64)

    def read(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._view[np.asarray(rows, np.int64)], dtype=np.float32)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the descriptor; maps already handed out stay readable until dropped."""
        self._closer()

    def _remap(self) -> None:
        rows = os.fstat(self._fd).st_size // self._row_bytes
        if rows == 0:
            self._view = np.zeros((0, self.dim), np.float32)
        else:
            self._view = np.memmap(self._file, dtype=np.float32, mode="r", shape=(rows, self.dim))
