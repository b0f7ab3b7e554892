"""A fixed-record file of float32 vectors: record ``i`` at byte ``i * 4 * dim``.

Raw little-endian float32, no header: the rows of the database say which records are live
(``SlotVectors``). Writes are one ``os.pwrite`` of a contiguous block of records; reads gather
records with ``os.pread`` over runs of nearby slots, so a batch written together (an import
batch) comes back in one system call. The file only grows; nothing here truncates it, so a
reader never sees a record vanish under it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

VECTOR_DTYPE = np.dtype("<f4")
GAP_RECORDS = 32  # slots apart that are still read in one pread (64 KiB of 512-d records)


class SlotFile:
    """The records of one dimension; thread-safe (``pread``/``pwrite`` take explicit offsets)."""

    def __init__(self, path: Path, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dimension must be at least 1, got {dim}")
        self.path = Path(path)
        self.dim = dim
        self.record_bytes = 4 * dim
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> int:
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            return self._fd

    def records(self) -> int:
        """Whole records the file holds now (written, live or not)."""
        try:
            return os.stat(self.path).st_size // self.record_bytes
        except FileNotFoundError:
            return 0

    def write(self, first_slot: int, matrix: np.ndarray) -> None:
        """Write ``matrix`` [n, dim] as records ``first_slot .. first_slot + n - 1``, in one block."""
        data = np.ascontiguousarray(matrix, dtype=VECTOR_DTYPE)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(f"expected vectors of {self.dim} dimensions, got shape {data.shape}")
        block = data.data.cast("B")
        fd, offset = self._open(), first_slot * self.record_bytes
        while block:  # pwrite may write less than asked (a signal, a full disk reports an error)
            done = os.pwrite(fd, block, offset)
            block, offset = block[done:], offset + done

    def read(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(records [len(slots), dim] float32, found [len(slots)] bool): a slot past the end of the
        file (a record lost with a power cut, say) is not found and its row is zeros."""
        slots = np.asarray(slots, dtype=np.int64)
        out = np.zeros((len(slots), self.dim), dtype=VECTOR_DTYPE)
        found = np.zeros(len(slots), dtype=bool)
        if not len(slots) or (self._fd is None and not self.path.exists()):  # once open, no stat a read
            return out, found
        fd = self._open()
        if np.array_equal(slots, np.arange(slots[0], slots[0] + len(slots))):  # a batch written together
            found[: self._read_into(fd, int(slots[0]), out)] = True
            return out, found
        order = np.argsort(slots, kind="stable")
        ordered = slots[order]
        breaks = np.flatnonzero(np.diff(ordered) > GAP_RECORDS) + 1
        for run in np.split(np.arange(len(ordered)), breaks):
            low = int(ordered[run[0]])
            span = np.empty((int(ordered[run[-1]]) - low + 1, self.dim), dtype=VECTOR_DTYPE)
            have = self._read_into(fd, low, span)
            offsets = ordered[run] - low
            ok = offsets < have
            targets = order[run[ok]]
            out[targets] = span[offsets[ok]]
            found[targets] = True
        return out, found

    def _read_into(self, fd: int, first_slot: int, buffer: np.ndarray) -> int:
        """Fill ``buffer`` [k, dim] with records from ``first_slot`` on; returns how many were whole."""
        view, offset, done = buffer.data.cast("B"), first_slot * self.record_bytes, 0
        while done < len(view):
            got = os.preadv(fd, [view[done:]], offset + done)
            if got == 0:  # end of file
                break
            done += got
        return done // self.record_bytes

    def flush(self) -> None:
        """``fdatasync``: the records written so far survive a power cut."""
        with self._lock:
            if self._fd is not None:
                os.fdatasync(self._fd)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.fdatasync(fd)
            os.close(fd)
