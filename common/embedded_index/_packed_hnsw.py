"""``PackedGraph``: the arrays of a packed HNSW graph (``_packed_hnsw.c``) and the calls into it.

Python owns every array (numpy) and grows them; the compiled library reads and writes them in
place through ``ctypes`` (which releases the GIL for the call). Writes (``add``, ``remove``) are
serialised by the caller. Each ``add`` publishes a new ``_Arrays`` (the same arrays, or grown
copies, with new counts); a search holds the one published when it started, whose counts never
change, and the engine ignores any link to a slot or upper node past them, so a search may run
while another thread adds: it does not see the newest vectors, and a row rewritten meanwhile may
read as a mix of its old and new links (what it may see is spelled out in ``_packed_hnsw.c``).

Per vector the graph holds its int8 code (``dim`` bytes), its 4-bit residuals (``(dim + 1) // 2``
bytes, read only to re-rank a search's best candidates: ``search_refined``), its level-0 links (``m0`` ids of
``bits`` bits, ``bits`` the bit length of the capacity: 20 up to 1,048,575 vectors), its 8-byte
key, a removed bit, and, for the one vector in ``2·m`` that also sits above level 0, an upper
node with ``m`` 4-byte links per level.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import os
from typing import Any

import numpy as np

from common.embedded_index import _packed_hnsw_files as files
from common.embedded_index import _seeds as seeding
from common.embedded_index._packed_hnsw_binding import (
    MAX_LEVEL,
    MAX_LINKS,
    PAD,
    _Arrays,
    _Graph,
    bits_for,
    checked,
    kernel,
    library,
    row_bytes,
)
from common.errors import ConfigError, InternalError
from common.thread_pools import shared_pool

__all__ = ["PAD", "PackedGraph", "bits_for", "kernel", "library", "row_bytes"]

SEED = 0x5EED
# a batch of at least this many vectors is inserted on ``threads`` threads (``ph_insert_parallel``);
# smaller ones, one at a time on the calling thread, give the same graph link for link every time
PARALLEL_FROM = 8192
# staged rows (``stage``) are linked once this many wait: a seeded batch's scratch (seeds and their
# scores, 256 bytes a row) stays under 300 MB
STAGE_LIMIT = 1 << 20
NO_SEEDS = np.zeros((1, 1), np.uint32)  # the seeds argument of an unseeded insert (its width is 0)
MAX_THREADS = 256  # PH_MAX_THREADS
LINE = 64  # bytes in a cache line: codes start on one
# a batch of queries is shared out among threads, at least this many queries a share (fewer are
# not worth a hand-off: a search takes 0.1-0.2 ms)
SHARE_FROM = 16


class PackedGraph:
    """Cosine search over int8 codes in a packed HNSW graph; slots are numbered in insertion order."""

    def __init__(
        self,
        dim: int,
        m: int = 16,
        m0: int | None = None,
        expansion_add: int = 256,
        threads: int | None = None,
        expansion_add_seeded: int = 0,
    ) -> None:
        if dim <= 0 or not 2 <= m <= MAX_LINKS or not 2 <= (m0 or 2 * m) <= MAX_LINKS:
            raise ConfigError(
                f"packed HNSW needs dim > 0 and 2 <= m, m0 <= {MAX_LINKS} (got dim={dim}, m={m}, m0={m0})"
            )
        self.dim, self.m, self.m0 = int(dim), int(m), int(m0 or 2 * m)
        self.expansion_add = max(int(expansion_add), self.m0)
        # the build beam of a seeded batch (``_seeds``); 0: batches are not seeded
        self.expansion_add_seeded = max(int(expansion_add_seeded), self.m0) if expansion_add_seeded > 0 else 0
        self.mult = 1.0 / math.log(2 * self.m)  # one node in 2·m above level 0
        self.threads = min(max(1, int(threads or len(os.sched_getaffinity(0)))), MAX_THREADS)
        self._lib = library()
        self.state = self._empty(0)
        self.removed = 0
        self.staged = 0  # rows stored past ``state.count`` by ``stage``, not linked yet
        self._partition: seeding.Partition | None = None

    # --- arrays ----------------------------------------------------------------------------------
    def _empty(self, capacity: int) -> _Arrays:
        bits = bits_for(capacity)
        return _Arrays(
            codes=_line_aligned((capacity, self.dim), np.int8),
            norms=np.empty(capacity, np.float32),
            residuals=np.empty((capacity, (self.dim + 1) // 2), np.uint8),
            links0=np.empty(capacity * row_bytes(self.m0, bits) + PAD, np.uint8),
            dead=np.zeros(capacity // 8 + 1, np.uint8),
            keys=np.empty(capacity, np.int64),
            up_slot=np.empty(0, np.uint32),
            up_level=np.empty(0, np.uint8),
            up_off=np.empty(0, np.int64),
            up_links=np.empty(0, np.uint32),
            bits=bits,
        )

    def _struct(self, a: _Arrays) -> _Graph:
        return _Graph(
            self.dim,
            self.m0,
            self.m,
            a.bits,
            row_bytes(self.m0, a.bits),
            a.codes.ctypes.data,
            a.norms.ctypes.data,
            a.links0.ctypes.data,
            a.dead.ctypes.data,
            a.up_slot.ctypes.data,
            a.up_level.ctypes.data,
            a.up_off.ctypes.data,
            a.up_links.ctypes.data,
            a.up_used,
            a.n_upper,
            a.count,
            a.entry,
            a.entry_slot,
            a.max_level,
        )

    def _grown(self, a: _Arrays, slots: int, uppers: int, links: int) -> _Arrays:
        """``a``, or a copy with room for ``slots`` slots, ``uppers`` upper nodes and ``links`` upper ints."""
        out = a
        if slots > a.capacity:
            out = self._empty(max(slots, a.capacity + a.capacity // 2, 1024))
            n, held = a.count, a.count + self.staged  # staged rows' codes and keys move with the linked
            out.codes[:held] = a.codes[:held]
            out.residuals[:held] = a.residuals[:held]
            out.keys[:held] = a.keys[:held]
            out.norms[:n] = a.norms[:n]  # a staged row's is computed when it is linked
            out.dead[: len(a.dead)] = a.dead
            if out.bits == a.bits:
                size = n * row_bytes(self.m0, a.bits)
                out.links0[:size] = a.links0[:size]
            else:
                rc = self._lib.ph_repack(
                    a.links0, a.bits, row_bytes(self.m0, a.bits), out.links0, out.bits, row_bytes(self.m0, out.bits),
                    self.m0, n,
                )  # fmt: skip
                checked(rc, "widening its links")
            out.up_slot, out.up_level, out.up_off, out.up_links = a.up_slot, a.up_level, a.up_off, a.up_links
            for name in ("count", "n_upper", "up_used", "entry", "entry_slot", "max_level"):
                setattr(out, name, getattr(a, name))
        if uppers > len(out.up_slot):
            size = max(uppers, len(out.up_slot) * 3 // 2, 256)
            out = dataclasses.replace(
                out,
                up_slot=_resized(out.up_slot, size, out.n_upper),
                up_level=_resized(out.up_level, size, out.n_upper),
                up_off=_resized(out.up_off, size, out.n_upper),
            )
        if links > len(out.up_links):
            size = max(links, len(out.up_links) * 3 // 2, 4096)
            out = dataclasses.replace(out, up_links=_resized(out.up_links, size, out.up_used))
        return out

    # --- writes ----------------------------------------------------------------------------------
    def levels_for(self, first: int, n: int) -> np.ndarray:
        """The levels of slots ``first .. first+n-1``, drawn from a generator seeded with ``first``
        (the same inserts in the same batches draw the same levels)."""
        rng = np.random.default_rng([SEED, first])
        drawn = np.floor(-np.log(1.0 - rng.random(n)) * self.mult)
        return np.minimum(drawn, MAX_LEVEL).astype(np.int32)

    def reserve(self, slots: int) -> None:
        """Room for ``slots`` slots in all, allocated now: a build that knows its size never grows the
        arrays as it goes (a growth holds the old arrays and the new at once, about 2 GB over the graph's
        own 4.4 GB in the last growth of a 5M build). Untouched room costs address space, not memory."""
        a = self.state
        if slots > a.capacity:
            self.state = dataclasses.replace(self._grown(a, slots, a.n_upper, a.up_used))

    def add(self, keys: np.ndarray, codes: np.ndarray, residuals: np.ndarray | None = None) -> np.ndarray:
        """Append int8 ``codes`` ``[n, dim]`` under int64 ``keys``, with their 4-bit ``residuals``
        (``Int8Codec.encode_refined``; none: the codes are taken as exact), and link them (with any
        rows staged before them); returns their slots."""
        first = self.state.count + self.staged
        self.stage(keys, codes, residuals)
        self.link_staged()
        return np.arange(first, first + len(keys), dtype=np.int64)

    def stage(self, keys: np.ndarray, codes: np.ndarray, residuals: np.ndarray | None = None) -> None:
        """Store rows as ``add`` does without linking them yet: searches do not see them until
        ``link_staged`` (or the next ``add``) links every staged row as one batch. A build that
        stages its pages links in large batches (seeded: ``_seeds``) without holding its rows twice.
        Staged rows are linked at ``STAGE_LIMIT`` rows, and before any removal or save."""
        n = len(keys)
        if n == 0:
            return
        a = self.state
        first = a.count + self.staged
        if first + n >= (1 << 32) - 1:
            raise InternalError("a packed index holds at most 2^32 - 2 vectors")
        if first + n > a.capacity:  # a fresh state object: a search holds the one published before
            a = self.state = dataclasses.replace(self._grown(a, first + n, a.n_upper, a.up_used))
        a.codes[first : first + n] = codes
        a.residuals[first : first + n] = 0x88 if residuals is None else residuals  # 0x88: no correction
        a.keys[first : first + n] = keys
        self.staged += n
        if self.staged >= STAGE_LIMIT:
            self.link_staged()

    def link_staged(self) -> None:
        """Link every staged row into the graph, as one batch, and publish them."""
        n = self.staged
        if n == 0:
            return
        a = self.state
        first = a.count
        levels = self.levels_for(first, n)
        high = np.flatnonzero(levels >= 1)
        upper = np.zeros(n, np.uint32)
        upper[high] = a.n_upper + np.arange(len(high), dtype=np.uint32)
        sizes = levels[high].astype(np.int64) * (1 + self.m)
        # a fresh state object: a search holds the one published before, whose counts never change
        a = dataclasses.replace(self._grown(a, first + n, a.n_upper + len(high), a.up_used + int(sizes.sum())))
        if len(high):
            offsets = a.up_used + np.concatenate([[0], np.cumsum(sizes)[:-1]])
            span = slice(a.n_upper, a.n_upper + len(high))
            a.up_slot[span] = first + high
            a.up_level[span] = levels[high]
            a.up_off[span] = offsets
            a.up_links[a.up_used : a.up_used + int(sizes.sum())] = 0
            a.n_upper += len(high)
            a.up_used += int(sizes.sum())
        seeds, ef = self._seeds(a, first, n)
        graph = self._struct(a)
        graph.count = first
        threads = self.threads if n >= PARALLEL_FROM else 1
        width = 0 if seeds is None else seeds.shape[1]
        rc = self._lib.ph_insert_parallel(
            ctypes.byref(graph), n, levels, upper, ef, threads, NO_SEEDS if seeds is None else seeds, width
        )
        checked(rc, "inserting")
        a.count, a.entry, a.entry_slot, a.max_level = graph.count, graph.entry, graph.entry_slot, graph.max_level
        self.staged = 0
        self.state = a

    def _seeds(self, a: _Arrays, first: int, n: int) -> tuple[np.ndarray | None, int]:
        """The seeds of slots ``first .. first+n-1`` and the build beam to link them at."""
        if not self.expansion_add_seeded or n < seeding.SEEDED_FROM:
            return None, self.expansion_add
        if self._partition is None:
            self._partition = seeding.Partition.drawn(a.codes[first : first + n], a.capacity, first)
        return seeding.seeds_for(self._lib, self._partition, a.codes, first, n), self.expansion_add_seeded

    def remove(self, slots: np.ndarray) -> None:
        """Mark ``slots`` removed: searches still walk through them but never return them."""
        slots = np.unique(np.asarray(slots, np.int64))
        if not len(slots):
            return
        self.link_staged()
        dead = self.state.dead
        fresh = slots[(dead[slots >> 3] >> (slots & 7)) & 1 == 0]
        np.bitwise_or.at(dead, fresh >> 3, (1 << (fresh & 7)).astype(np.uint8))
        self.removed += len(fresh)

    def __len__(self) -> int:
        """Live vectors (removed ones not counted)."""
        return self.state.count - self.removed

    # --- reads -----------------------------------------------------------------------------------
    def search_keys(
        self, code: np.ndarray, k: int, ef: int, turned: np.ndarray | None = None, rerank: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keys (int64) and cosines (float64) of up to ``k`` live neighbours of one int8 query code;
        with ``turned`` (the query rotated, float32), the best ``rerank`` by code are ranked again
        by their refined vectors (code and residual) against it."""
        a = self.state
        if turned is None:
            slots, sims = self.search(code, k, ef, a)
            norm = float(np.sqrt(np.dot(code.astype(np.int32), code.astype(np.int32))))
        else:
            slots, sims = self.search_refined(code, turned, k, rerank, ef, a)
            norm = 1.0
        found = slots[0] >= 0
        cosines = sims[0][found].astype(np.float64) / (norm if norm > 0 else 1.0)
        return a.keys[slots[0][found]], cosines

    def query(
        self,
        vector: np.ndarray,
        k: int,
        ef: int,
        rerank: int,
        exclude: int | None = None,
        narrow: int = 0,
        gap: float = 0.0,
        signs: np.ndarray | None = None,
    ) -> tuple[list[int], list[float]]:
        """Keys and Robotoff distances of the ``k`` best live neighbours of one float32 query ``vector``
        ``[dim]``, without the key ``exclude``: turned in the engine as ``Int8Codec.rotate`` turns it,
        with ``signs`` (``Int8Codec.signs``), or already turned without; then what ``search_keys`` of
        its code and the turned query then ``ranked`` give, to the bit, in one engine call
        (``ph_query``; the steps one by one from Python cost about 50 us a query beside it, the turn
        in numpy 13 us). With ``narrow`` (0 < narrow < ef), the search at beam ``narrow`` answers
        unless its k-th and (k+1)-th refined cosines are within ``gap``, and then the search at
        ``ef``, resumed from where the narrow one stopped, does."""
        query = np.ascontiguousarray(vector, np.float32)
        # held here, not only its address: a converted copy must outlive the call
        turn = None if signs is None else np.ascontiguousarray(signs, np.float32)
        if query.shape != (self.dim,) or (turn is not None and turn.shape != (self.dim,)):
            raise InternalError(f"a query and signs of {self.dim} floats wanted, got {query.shape}")
        a = self.state
        if a.queried is None:  # once per published state, as ``searched``
            if a.searched is None:
                a.searched = self._struct(a)
            a.queried = (ctypes.pointer(a.searched), a.count, a.residuals.ctypes.data, a.keys.ctypes.data)
        keys, distances = (ctypes.c_int64 * k)(), (ctypes.c_double * k)()
        skip = -1 if exclude is None else int(exclude)
        signed = None if turn is None else turn.ctypes.data
        found = self._lib.ph_query(
            *a.queried, query.ctypes.data, signed, k, rerank, ef, narrow, gap, skip, keys, distances
        )
        checked(min(found, 0), "searching")
        return keys[:found], distances[:found]

    def search_keys_many(
        self, codes: np.ndarray, turned: np.ndarray, k: int, ef: int, rerank: int, narrow: int = 0, gap: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``search_keys`` (re-ranked) of each row of ``codes`` and ``turned``, over one snapshot:
        keys (int64, -1 where fewer than ``k`` were found) and cosines (float64), ``[n, k]``, row
        for row what ``search_keys`` returns. The rows go to the engine a share per thread (one call
        each, without the GIL), so a batch costs one walk per query and no Python per query."""
        a = self.state
        if a.searched is None:  # before the shares: each reads it
            a.searched = self._struct(a)
        shares = max(1, min(self.threads, len(codes) // SHARE_FROM))
        bounds = np.linspace(0, len(codes), shares + 1).astype(int)
        parts = [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]

        def share(part: slice) -> tuple[np.ndarray, np.ndarray]:
            return self.search_refined(codes[part], turned[part], k, rerank, ef, a, narrow, gap)

        found = [share(parts[0])] if shares == 1 else list(shared_pool("packed-search", self.threads).map(share, parts))
        slots = np.concatenate([s for s, _ in found])
        cosines = np.concatenate([c for _, c in found]).astype(np.float64)
        keys = np.where(slots >= 0, a.keys[np.maximum(slots, 0)], -1)
        return keys, cosines

    def search_refined(
        self,
        codes: np.ndarray,
        turned: np.ndarray,
        k: int,
        rerank: int,
        ef: int,
        snapshot: _Arrays | None = None,
        narrow: int = 0,
        gap: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As ``search``, the best ``rerank`` by code ranked again by their refined vectors against
        the rotated float32 queries ``turned``; the cosines are the refined ones. ``narrow`` and ``gap``:
        as for ``query``."""
        a = snapshot or self.state
        queries = np.ascontiguousarray(codes, np.int8).reshape(-1, self.dim)
        floats = np.ascontiguousarray(turned, np.float32).reshape(-1, self.dim)
        slots = np.empty((len(queries), k), np.uint32)
        sims = np.empty((len(queries), k), np.float32)
        if a.searched is None:
            a.searched = self._struct(a)
        rc = self._lib.ph_search_refined(
            ctypes.byref(a.searched), a.count, a.residuals, queries, floats, len(queries), k, rerank, max(ef, k),
            narrow, gap, slots, sims,
        )  # fmt: skip
        checked(rc, "searching")
        out = slots.astype(np.int64)
        out[slots == np.iinfo(np.uint32).max] = -1
        return out, sims

    def search(
        self, codes: np.ndarray, k: int, ef: int, snapshot: _Arrays | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per query code: up to ``k`` live slots (int64, -1 where fewer) and their cosines times
        the query code's norm (the order is the cosine order), best first."""
        a = snapshot or self.state  # one snapshot for the whole call
        queries = np.ascontiguousarray(codes, np.int8).reshape(-1, self.dim)
        slots = np.empty((len(queries), k), np.uint32)
        sims = np.empty((len(queries), k), np.float32)
        if a.searched is None:  # once per published state: its arrays and counts never change
            a.searched = self._struct(a)
        rc = self._lib.ph_search(ctypes.byref(a.searched), a.count, queries, len(queries), k, max(ef, k), slots, sims)
        checked(rc, "searching")
        out = slots.astype(np.int64)
        out[slots == np.iinfo(np.uint32).max] = -1
        return out, sims

    def live(self) -> np.ndarray:
        """Per slot, True when it is not removed."""
        a = self.state
        bits = np.unpackbits(a.dead, bitorder="little")[: a.count]
        alive: np.ndarray = bits == 0
        return alive

    def links(self, state: _Arrays | None = None) -> np.ndarray:
        """Level-0 lists as uint32 ``[count, m0]`` (UINT32_MAX past a list's end), of the published
        state or of ``state``."""
        a = state or self.state
        out = np.empty((a.count, self.m0), np.uint32)
        if a.count:
            checked(self._lib.ph_unpack(ctypes.byref(self._struct(a)), 0, a.count, out), "unpacking its links")
        return out

    def resident_bytes(self) -> int:
        """Bytes of the arrays up to what is in use (what a process that loaded the graph holds)."""
        a = self.state
        return int(
            a.count * (self.dim + (self.dim + 1) // 2 + 8 + row_bytes(self.m0, a.bits))
            + a.count // 8
            + a.n_upper * (4 + 1 + 8)
            + a.up_used * 4
        )

    # --- persistence -----------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Every array in one uncompressed ``.npz`` file at ``path`` (staged rows linked first)."""
        self.link_staged()
        with open(path, "wb") as handle:
            savez: Any = np.savez  # numpy's stub reads ``**arrays`` as its keyword options
            savez(handle, **files.to_arrays(self.state, self.dim, self.m, self.m0))

    def load(self, path: str) -> None:
        """Adopt the arrays saved at ``path`` once they are checked to fit together, links included
        (``ph_check``); ``InternalError`` for any file that cannot be used, however it is damaged."""
        state = files.read(path, self.dim, self.m, self.m0)
        graph = self._struct(state)
        if self._lib.ph_check(ctypes.byref(graph)) != 0:
            raise InternalError(f"saved packed graph {path} is inconsistent (a link, an upper node or its entry)")
        checked(self._lib.ph_norms(ctypes.byref(graph), 0, state.count), "computing its norms")
        self.state, self.staged, self._partition = state, 0, None  # a partition of other slots is void
        self.removed = state.count - int(self.live().sum())


def _line_aligned(shape: tuple[int, int], dtype: type) -> np.ndarray:
    """An empty array that starts on a cache line (numpy's large ones start 16 bytes into a page, so a
    512-byte code spans 9 lines where it could span 8)."""
    size = shape[0] * shape[1] * np.dtype(dtype).itemsize
    raw = np.empty(size + LINE, np.uint8)
    skip = -raw.ctypes.data % LINE
    return raw[skip : skip + size].view(dtype).reshape(shape)


def _resized(array: np.ndarray, size: int, used: int) -> np.ndarray:
    out = np.empty(size, array.dtype)
    out[:used] = array[:used]
    return out
