"""Int8 codes for unit vectors that keep cosine ranking: a fixed rotation, then per-vector scaling.

usearch's own float → int8 cast multiplies by 127. A unit vector of 512 dimensions has
components of about ±0.044, so that uses ±6 of the ±127 range, and the rounding error is about
5 % of the vector: enough to reorder neighbours whose cosines differ in the third decimal.

Here each vector is first turned by a fixed orthogonal matrix (Hadamard blocks, one per binary
digit of the dimension, with pseudo-random signs, so that no single large component, as CLIP
embeddings have, dominates), then scaled so its largest component becomes ±127, then rounded.
usearch's int8 cosine divides by both norms, so the per-vector scale cancels and the codes'
cosine is the original cosine within about 0.1 %. The rotation is built from integers and a hash,
so every platform and numpy version builds the same matrix; ``CODEC`` names the scheme and is
stored with an index, which is rebuilt from the metadata store when it differs.

The turn is applied by the compiled engine (``ph_turn`` in ``_packed_hnsw.c``) as a fast
Walsh-Hadamard transform per block: 4.6k additions at 512 dimensions instead of a ``[dim, dim]``
product's 262k multiplications, no matrix to push the index's own data out of the cache, and in a
fixed order, so a row turns to the same floats alone or in a batch, and a served query (turned
inside ``ph_query``) exactly as ``rotate`` turns it. Without the engine (the usearch index on a
machine without a C compiler), numpy applies the same turn as two small products per block
(``H_ab = H_a ⊗ H_b``, so a row reshaped to ``[a, b]`` becomes ``H_a · X · H_b``): the same
floats to within a few units in the last place (the additions in another order).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib

import numpy as np

from common.embedded_index._packed_hnsw_binding import checked, library
from common.errors import ConfigError

CODEC = "hadamard-sign-i8-v1"
LEVELS = 127
RESIDUAL_STEPS = 14  # PH_RESID_STEPS in _packed_hnsw.c: a residual r in -7..7 refines a component by r / 14
# Rows are encoded this many at a time: every step works row by row, so the codes are the same to the bit
# whatever the chunk, but a whole batch's float32 temporaries (400 MB for 200k rows) go to memory and fault
# in fresh pages at every step, where a chunk's stay in the cache: 200k rows encode in 0.56 s against 11.0 s
# (``encode_refined``, 2-core Xeon, 2026-12-07), about 85 s of a 1M build through ``PackedIndex``.
CHUNK_ROWS = 1024


def sylvester_hadamard(dim: int) -> np.ndarray | None:
    """The ±1 Hadamard matrix of order ``dim`` (Sylvester's construction), or None if ``dim`` is
    not a power of two."""
    if dim < 1 or dim & (dim - 1):
        return None
    matrix = np.ones((1, 1), np.float32)
    while len(matrix) < dim:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix


def column_signs(dim: int) -> np.ndarray:
    """±1 per dimension from SHA-256 bits (stable everywhere, unlike a seeded generator)."""
    bits: list[int] = []
    counter = 0
    while len(bits) < dim:
        digest = hashlib.sha256(f"{CODEC}:{counter}".encode()).digest()
        bits += [(byte >> shift) & 1 for byte in digest for shift in range(8)]
        counter += 1
    return np.where(np.array(bits[:dim]) == 1, 1.0, -1.0).astype(np.float32)


def turn_matrix(dim: int) -> np.ndarray:
    """The orthogonal ``[dim, dim]`` turn: block-diagonal normalised Hadamard matrices whose orders
    are the binary digits of ``dim`` (512 is one block, 384 = 256 + 128), rows times ±1 signs."""
    turn = np.zeros((dim, dim), np.float32)
    start = 0
    for bit in reversed(range(dim.bit_length())):
        order = 1 << bit
        if dim & order:
            block = sylvester_hadamard(order)
            assert block is not None
            turn[start : start + order, start : start + order] = block / np.float32(np.sqrt(order))
            start += order
    return column_signs(dim)[:, None] * turn


def hadamard_factors(dim: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per block of ``turn_matrix`` (start, ``H_a``, ``H_b / sqrt(a·b)``) with ``a·b`` the block's order."""
    factors: list[tuple[int, np.ndarray, np.ndarray]] = []
    start = 0
    for bit in reversed(range(dim.bit_length())):
        if dim & (1 << bit):
            left, right = sylvester_hadamard(1 << (bit // 2)), sylvester_hadamard(1 << (bit - bit // 2))
            assert left is not None and right is not None
            factors.append((start, left, right / np.float32(np.sqrt(1 << bit))))
            start += 1 << bit
    return factors


@functools.cache
def _engine() -> ctypes.CDLL | None:
    """The compiled engine, or None where it is not built (the usearch index still encodes)."""
    try:
        return library()
    except ConfigError:
        return None


class Int8Codec:
    """``encode`` float32 rows → int8 codes; ``decode`` codes → approximate unit float32 rows."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.turn = turn_matrix(dim)
        self.signs = column_signs(dim)  # ±1 per component, applied before the Hadamard blocks
        self._factors = hadamard_factors(dim)

    def rotate(self, rows: np.ndarray) -> np.ndarray:
        """``rows @ turn`` for float32 ``[n, dim]``: the engine's ``ph_turn``, row by row, so one
        vector turns (and encodes) exactly as it would in a batch."""
        rows = np.ascontiguousarray(rows, np.float32).reshape(-1, self.dim)
        out: np.ndarray = np.empty(rows.shape, np.float32)
        engine = _engine()
        if engine is not None:
            checked(engine.ph_turn(rows, len(rows), self.dim, self.signs, out), "turning vectors")
            return out
        for first in range(0, len(rows), CHUNK_ROWS):
            signed = rows[first : first + CHUNK_ROWS] * self.signs
            n = len(signed)
            for start, left, right in self._factors:
                a, b = len(left), len(right)
                block = signed[:, start : start + a * b].reshape(n, a, b)
                turned = np.matmul(np.matmul(left, block), right).reshape(n, a * b)
                out[first : first + n, start : start + a * b] = turned
        return out

    def encode(self, matrix: np.ndarray) -> np.ndarray:
        rows = np.asarray(matrix, np.float32).reshape(-1, self.dim)
        codes: np.ndarray = np.empty(rows.shape, np.int8)
        for first in range(0, len(rows), CHUNK_ROWS):
            turned = self.rotate(rows[first : first + CHUNK_ROWS])
            peak = np.abs(turned).max(axis=1, keepdims=True)
            scale = np.divide(LEVELS, peak, out=np.zeros_like(peak), where=peak > 0)
            # the largest component maps to exactly ±127, so no clipping is needed
            codes[first : first + len(turned)] = np.rint(turned * scale)
        return codes

    def encode_refined(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``encode``'s codes and their 4-bit residuals: per component the rounding error times
        ``RESIDUAL_STEPS``, rounded to -7..7, plus 8, two to a byte (even components in the low
        nibble), so that ``code + r / RESIDUAL_STEPS`` is the scaled vector within 1/28 of a step."""
        rows = np.asarray(matrix, np.float32).reshape(-1, self.dim)
        codes: np.ndarray = np.empty(rows.shape, np.int8)
        residuals: np.ndarray = np.empty((len(rows), (self.dim + 1) // 2), np.uint8)
        for first in range(0, len(rows), CHUNK_ROWS):
            turned = self.rotate(rows[first : first + CHUNK_ROWS])
            n = len(turned)
            peak = np.abs(turned).max(axis=1, keepdims=True)
            scaled = turned * np.divide(LEVELS, peak, out=np.zeros_like(peak), where=peak > 0)
            rounded = np.rint(scaled)
            steps = np.clip(np.rint((scaled - rounded) * RESIDUAL_STEPS), -7, 7).astype(np.int16) + 8
            if self.dim % 2:
                steps = np.concatenate([steps, np.full((n, 1), 8, np.int16)], axis=1)
            codes[first : first + n] = rounded
            residuals[first : first + n] = steps[:, 0::2] | (steps[:, 1::2] << 4)
        return codes, residuals

    def encode_one(self, vector: np.ndarray) -> np.ndarray:
        """``encode`` of one float32 vector ``[dim]`` → ``[dim]`` (queries), the same float32 steps."""
        return self.code_of_turned(self.rotate(np.asarray(vector, np.float32).reshape(1, self.dim)).reshape(self.dim))

    def code_of_turned(self, turned: np.ndarray) -> np.ndarray:
        """The code of one vector already rotated (``rotate``): ``encode_one``'s last steps."""
        peak = np.float32(np.abs(turned).max())
        if not 0 < peak < np.inf:  # a zero query, or one with an infinite or NaN component: the zero code
            return np.zeros(self.dim, np.int8)
        codes: np.ndarray = np.rint(turned * (np.float32(LEVELS) / peak)).astype(np.int8)
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        turned = np.asarray(codes, np.float32).reshape(-1, self.dim)
        rows = turned @ self.turn.T
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
        return unit
