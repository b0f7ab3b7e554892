"""Seeds for a batch of inserts: each new slot's nearest earlier slots, handed to the engine with it.

An insert's level-0 links come from a beam search of the graph built so far (``expansion_add``);
on near-duplicate clusters that search misses some of the node's true neighbours unless its beam is
wide, and the beam is most of a build's time (``bench/ANALYSIS.md``). A batch of at least
``SEEDED_FROM`` inserts is first given, for each row, its ``SEEDS`` nearest slots before it by the
cosine of their codes, found by matrix products (BLAS) over a coarse partition of the codes (an
inverted file: each slot in the cell of its nearest centroid, each new row scored against the
members of its ``PROBES`` nearest cells). The engine scores those seeds again and adds the ones its
search (from the top, at a narrower beam: ``expansion_add_seeded``) did not reach to the candidates,
so the links are still chosen from the node's nearest (``docs/packed-engine.md``, figures in
``bench/ANALYSIS.md``).

The partition is kept while the graph object lives (its centroids and each slot's cell, 4 bytes a
slot), not saved: a graph opened from its files assigns its slots again at its first seeded batch.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math

import numpy as np

from common.embedded_index._packed_hnsw_binding import checked

SEEDED_FROM = 65_536  # a batch at least this large is seeded (smaller ones: the search alone)
SEEDS = 32  # seeds per insert
PROBES = 2  # cells each new row is scored in (1 lost recall on near-ties at 200k, 3 cost 1.3x: ANALYSIS)
TRAIN_ROWS = 16  # rows sampled per cell to draw the centroids
TRAIN_ROUNDS = 4  # k-means rounds
SPLIT_ROUNDS, SPLIT_AT = 3, 2.0  # cells over twice the mean size are split in two, up to 3 times
BLOCK = 65_536  # rows scored against the centroids at a time
# a cell's asking rows are scored this many at a time, each block against the members before its
# last row only (within a batch, about half the products of scoring every member)
ROWS_AT_ONCE = 512
NONE = np.uint32(0xFFFFFFFF)


def unit_rows(codes: np.ndarray) -> np.ndarray:
    """float32 rows of the int8 ``codes``, scaled to unit length (a zero code stays zero)."""
    rows = codes.astype(np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    rows /= np.where(norms > 0, norms, 1.0)[:, None]
    return rows


@dataclasses.dataclass
class Partition:
    """Centroids (unit float32 ``[cells, dim]``) and the cell of each slot assigned so far."""

    centroids: np.ndarray
    cell_of: np.ndarray  # int32, one per slot below ``assigned``
    assigned: int = 0

    @classmethod
    def drawn(cls, codes: np.ndarray, expected: int, seed: int) -> Partition:
        """Centroids for about ``expected`` slots, by k-means over a sample of ``codes``, the
        largest cells then split in two: a cell's products grow with its members times the rows
        probing it, and clustered data leaves a few cells five times the median."""
        # a row costs a product with every centroid and, in each of PROBES cells, about half the
        # members: the sum is least at sqrt(expected * PROBES / 2) cells (1,000 at 1M, 2,236 at 5M)
        cells = max(1, min(round(math.sqrt(expected * PROBES / 2)), len(codes) // 4))
        rng = np.random.default_rng(seed)
        sample = unit_rows(codes[np.sort(rng.choice(len(codes), min(len(codes), cells * TRAIN_ROWS), replace=False))])
        centroids = sample[rng.choice(len(sample), cells, replace=False)].copy()
        for _ in range(TRAIN_ROUNDS):
            centroids = _means(sample, np.argmax(sample @ centroids.T, axis=1), centroids)
        for _ in range(SPLIT_ROUNDS):
            nearest = np.argmax(sample @ centroids.T, axis=1)
            counts = np.bincount(nearest, minlength=len(centroids))
            large = np.flatnonzero(counts > SPLIT_AT * len(sample) / len(centroids))
            if not len(large):
                break
            halves = [centroids]
            for cell in large:
                members = sample[nearest == cell]
                pair = members[rng.choice(len(members), 2, replace=False)].copy()
                for _ in range(TRAIN_ROUNDS):
                    pair = _means(members, np.argmax(members @ pair.T, axis=1), pair)
                centroids[cell] = pair[0]
                halves.append(pair[1:])
            centroids = np.concatenate(halves)
        return cls(centroids, np.zeros(0, np.int32))

    def nearest(self, codes: np.ndarray, first: int, stop: int, count: int) -> np.ndarray:
        """The ``count`` nearest cells of slots ``first .. stop-1``, nearest first (int64 ``[n,
        count]``), their codes turned to floats a block at a time (a whole batch would take 2 KB a row)."""
        count = min(count, len(self.centroids))
        out = np.empty((stop - first, count), np.int64)
        for start in range(first, stop, BLOCK):
            scores = unit_rows(codes[start : min(start + BLOCK, stop)]) @ self.centroids.T
            every = np.arange(len(scores))
            for j in range(count):  # a few arg-maxes: 5x faster than an arg-partition here
                out[start - first : start - first + len(scores), j] = best = np.argmax(scores, axis=1)
                scores[every, best] = -np.inf
        return out

    def assign(self, codes: np.ndarray, upto: int, cells: np.ndarray | None = None) -> None:
        """Assign slots ``assigned .. upto-1`` (``codes`` holds every slot) to their nearest cell, or
        to ``cells`` (theirs, already known)."""
        if upto <= self.assigned:
            return
        out = np.empty(upto, np.int32)
        out[: self.assigned] = self.cell_of[: self.assigned]
        if cells is not None:
            out[self.assigned : upto] = cells
        else:
            out[self.assigned : upto] = self.nearest(codes, self.assigned, upto, 1)[:, 0]
        self.cell_of, self.assigned = out, upto


def _means(rows: np.ndarray, nearest: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """One k-means step: each centroid moved to the unit mean of its rows (kept where it has none)."""
    sums = np.zeros_like(centroids)
    np.add.at(sums, nearest, rows)
    filled = np.bincount(nearest, minlength=len(centroids)) > 0
    out = centroids.copy()
    out[filled] = unit_rows(sums[filled])
    return out


def seeds_for(lib: ctypes.CDLL, partition: Partition, codes: np.ndarray, first: int, n: int) -> np.ndarray:
    """For each of slots ``first .. first+n-1`` (their codes in ``codes``, as every slot before them),
    up to ``SEEDS`` nearest slots before it among the members of its ``PROBES`` nearest cells:
    uint32 ``[n, SEEDS]``, ``NONE`` where there are fewer."""
    partition.assign(codes, first)
    probes = partition.nearest(codes, first, first + n, PROBES)
    partition.assign(codes, first + n, probes[:, 0])  # rows earlier in the batch are seeds too
    cell_of = partition.cell_of[: first + n]
    members = np.argsort(cell_of, kind="stable").astype(np.uint32)  # by cell, then by slot
    member_bounds = np.searchsorted(cell_of[members], np.arange(len(partition.centroids) + 1))
    flat = probes.ravel()
    asking = np.argsort(flat, kind="stable")  # by cell, then by row
    ask_bounds = np.searchsorted(flat[asking], np.arange(len(partition.centroids) + 1))
    best = np.full((n, SEEDS), NONE, np.uint32)
    best_s = np.full((n, SEEDS), -np.inf, np.float32)
    for cell in np.flatnonzero(np.diff(ask_bounds)):
        rows = (asking[ask_bounds[cell] : ask_bounds[cell + 1]] // probes.shape[1]).astype(np.uint32)
        members_of = members[member_bounds[cell] : member_bounds[cell + 1]]
        member_rows = unit_rows(codes[members_of[: np.searchsorted(members_of, rows[-1] + np.uint32(first))]])
        for start in range(0, len(rows), ROWS_AT_ONCE):
            block = rows[start : start + ROWS_AT_ONCE]
            own = block + np.uint32(first)
            # a row is seeded only by slots before it: members past the block's last row are not scored
            before = int(np.searchsorted(members_of, own[-1]))
            if not before:
                continue
            slots = members_of[:before]
            scores = unit_rows(codes[own]) @ member_rows[:before].T
            rc = lib.ph_seed_merge(scores, len(block), len(slots), block, own, slots, SEEDS, n, best, best_s)
            checked(rc, "choosing seeds")
    return best
