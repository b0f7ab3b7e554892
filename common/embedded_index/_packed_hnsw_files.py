"""A packed graph's arrays as saved (one ``.npz``), and the checks a saved set must pass to be used."""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from typing import Any

import numpy as np

from common.embedded_index._packed_hnsw_binding import MAX_LEVEL, PAD, _Arrays, bits_for, row_bytes
from common.errors import InternalError

HEAD = 10  # dim, m, m0, bits, count, n_upper, up_used, entry, entry_slot, max_level
# what numpy and zipfile raise for a file that is not a readable .npz of plain arrays
UNREADABLE = (
    zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError, MemoryError,
    tokenize.TokenError,  # numpy's fallback reading of a damaged .npy header tokenizes it
)  # fmt: skip


def to_arrays(a: _Arrays, dim: int, m: int, m0: int) -> dict[str, np.ndarray]:
    """The arrays up to what is in use, and a head of the counts."""
    n = a.count
    head = np.array([dim, m, m0, a.bits, n, a.n_upper, a.up_used, a.entry, a.entry_slot, a.max_level], np.int64)
    return {
        "head": head,
        "codes": a.codes[:n],
        "residuals": a.residuals[:n],
        "links0": a.links0[: n * row_bytes(m0, a.bits)],
        "dead": a.dead[: n // 8 + 1],
        "keys": a.keys[:n],
        "up_slot": a.up_slot[: a.n_upper],
        "up_level": a.up_level[: a.n_upper],
        "up_off": a.up_off[: a.n_upper],
        "up_links": a.up_links[: a.up_used],
    }


def read(path: str, want_dim: int, want_m: int, want_m0: int) -> _Arrays:
    """The arrays saved at ``path`` (``from_arrays``); ``InternalError`` when the file is unreadable."""
    try:  # the file opened here, so that it is closed whatever numpy makes of it
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as saved:
            return from_arrays(saved, want_dim, want_m, want_m0)
    except UNREADABLE as exc:
        raise InternalError(f"saved packed graph {path} is unreadable: {type(exc).__name__}: {exc}") from exc


def _flat(array: Any, dtype: type, size: int) -> np.ndarray:
    """``array`` as a C-ordered vector of ``dtype`` with ``size`` items, or ``InternalError``."""
    out: np.ndarray = np.ascontiguousarray(array, dtype).reshape(-1)
    if len(out) != size:
        raise InternalError(f"saved packed graph has {len(out)} {dtype.__name__} where its head says {size}")
    return out


def from_arrays(arrays: Any, want_dim: int, want_m: int, want_m0: int) -> _Arrays:
    """Saved arrays as a state sized to its count, or ``InternalError`` when they do not fit
    together (links, upper nodes and the entry point are checked by the engine: ``ph_check``)."""
    head = np.asarray(arrays["head"], np.int64).reshape(-1)
    if len(head) != HEAD:
        raise InternalError(f"saved packed graph's head has {len(head)} numbers, not {HEAD}")
    dim, m, m0, bits, n, n_upper, up_used, entry, entry_slot, max_level = (int(v) for v in head)
    if (dim, m, m0) != (want_dim, want_m, want_m0):
        raise InternalError(f"saved graph has dim={dim} m={m} m0={m0}, this index wants {want_dim}/{want_m}/{want_m0}")
    counts = 0 <= n_upper <= n and up_used >= 0 and bits_for(n) <= bits <= 32  # n < 2^32 with it
    if not (counts and -1 <= entry < n_upper and 0 <= entry_slot <= n and -1 <= max_level <= MAX_LEVEL):
        raise InternalError("saved packed graph's counts are inconsistent")
    size = row_bytes(m0, bits)
    saved_links = _flat(arrays["links0"], np.uint8, n * size)  # before allocating by the head's count
    links0 = np.empty(n * size + PAD, np.uint8)
    links0[: n * size] = saved_links
    dead = _flat(arrays["dead"], np.uint8, n // 8 + 1).copy()
    if np.unpackbits(dead, bitorder="little")[n:].any():
        raise InternalError("saved packed graph is inconsistent: it removes slots past its last vector")
    return _Arrays(
        codes=_flat(arrays["codes"], np.int8, n * dim).reshape(n, dim),
        norms=np.empty(n, np.float32),  # computed from the codes once the graph is checked (`ph_norms`)
        residuals=_flat(arrays["residuals"], np.uint8, n * ((dim + 1) // 2)).reshape(n, (dim + 1) // 2),
        links0=links0,
        dead=dead,
        keys=_flat(arrays["keys"], np.int64, n),
        up_slot=_flat(arrays["up_slot"], np.uint32, n_upper),
        up_level=_flat(arrays["up_level"], np.uint8, n_upper),
        up_off=_flat(arrays["up_off"], np.int64, n_upper),
        up_links=_flat(arrays["up_links"], np.uint32, up_used),
        bits=bits,
        count=n,
        n_upper=n_upper,
        up_used=up_used,
        entry=entry,
        entry_slot=entry_slot,
        max_level=max_level,
    )
