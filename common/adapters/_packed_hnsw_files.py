"""A packed graph's arrays as saved (one ``.npz``), and the checks a saved set must pass to be used."""

from __future__ import annotations

from typing import Any

import numpy as np

from common.adapters._packed_hnsw_binding import MAX_LEVEL, PAD, _Arrays, bits_for, row_bytes
from common.errors import InternalError


def to_arrays(a: _Arrays, dim: int, m: int, m0: int) -> dict[str, np.ndarray]:
    """The arrays up to what is in use, and a head of the counts."""
    n = a.count
    head = np.array([dim, m, m0, a.bits, n, a.n_upper, a.up_used, a.entry, a.entry_slot, a.max_level], np.int64)
    return {
        "head": head,
        "codes": a.codes[:n],
        "links0": a.links0[: n * row_bytes(m0, a.bits)],
        "dead": a.dead[: n // 8 + 1],
        "keys": a.keys[:n],
        "up_slot": a.up_slot[: a.n_upper],
        "up_level": a.up_level[: a.n_upper],
        "up_off": a.up_off[: a.n_upper],
        "up_links": a.up_links[: a.up_used],
    }


def from_arrays(arrays: Any, want_dim: int, want_m: int, want_m0: int) -> _Arrays:
    """Saved arrays as a state sized to its count, or ``InternalError`` when they do not fit
    together (the links themselves are checked by the caller, which can unpack them)."""
    head = np.asarray(arrays["head"], np.int64)
    dim, m, m0, bits, n, n_upper, up_used, entry, entry_slot, max_level = (int(v) for v in head)
    if (dim, m, m0) != (want_dim, want_m, want_m0):
        raise InternalError(f"saved graph has dim={dim} m={m} m0={m0}, this index wants {want_dim}/{want_m}/{want_m0}")
    size = row_bytes(m0, bits)
    links0 = np.empty(n * size + PAD, np.uint8)
    saved_links = np.asarray(arrays["links0"], np.uint8)
    if len(saved_links) != n * size:
        raise InternalError("saved packed graph's links do not match its count")
    links0[: n * size] = saved_links
    a = _Arrays(
        codes=np.asarray(arrays["codes"], np.int8).reshape(n, dim),
        links0=links0,
        dead=np.asarray(arrays["dead"], np.uint8).copy(),
        keys=np.asarray(arrays["keys"], np.int64),
        up_slot=np.asarray(arrays["up_slot"], np.uint32),
        up_level=np.asarray(arrays["up_level"], np.uint8),
        up_off=np.asarray(arrays["up_off"], np.int64),
        up_links=np.asarray(arrays["up_links"], np.uint32),
        bits=bits,
        count=n,
        n_upper=n_upper,
        up_used=up_used,
        entry=entry,
        entry_slot=entry_slot,
        max_level=max_level,
    )
    problems = [
        len(a.keys) != n,
        len(a.dead) != n // 8 + 1,
        bits < bits_for(n) or bits > 32,
        len(a.up_slot) != n_upper or len(a.up_level) != n_upper or len(a.up_off) != n_upper,
        len(a.up_links) != up_used,
        n_upper > 0 and bool((a.up_slot >= n).any()),
        n_upper > 0 and bool((a.up_off + a.up_level.astype(np.int64) * (1 + m) > up_used).any()),
        n_upper > 0 and bool((a.up_links[a.up_off[a.up_level > 0]] > m).any()),
        n > 0 and not (0 <= entry_slot < n),
        entry >= n_upper,
        n > 0 and not (0 <= max_level <= MAX_LEVEL),
    ]
    if any(problems):
        raise InternalError("saved packed graph is inconsistent")
    return a
