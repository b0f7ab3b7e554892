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
"""

from __future__ import annotations

import hashlib

import numpy as np

CODEC = "hadamard-sign-i8-v1"
LEVELS = 127
SMALL_BATCH = 32


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


class Int8Codec:
    """``encode`` float32 rows → int8 codes; ``decode`` codes → approximate unit float32 rows."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.turn = turn_matrix(dim)

    def encode(self, matrix: np.ndarray) -> np.ndarray:
        rows = np.asarray(matrix, np.float32).reshape(-1, self.dim)
        if len(rows) < SMALL_BATCH:  # BLAS's threaded small matrix products cost more than a loop
            return np.stack([self.encode_one(row) for row in rows]) if len(rows) else np.zeros((0, self.dim), np.int8)
        turned = rows @ self.turn
        peak = np.abs(turned).max(axis=1, keepdims=True)
        scale = np.divide(LEVELS, peak, out=np.zeros_like(peak), where=peak > 0)
        codes: np.ndarray = np.clip(np.rint(turned * scale), -LEVELS, LEVELS).astype(np.int8)
        return codes

    def encode_one(self, vector: np.ndarray) -> np.ndarray:
        """``encode`` of one float32 vector ``[dim]`` → ``[dim]``, with less numpy overhead (queries)."""
        turned = np.asarray(vector, np.float32).reshape(self.dim) @ self.turn
        peak = float(np.abs(turned).max())
        if not peak > 0:
            return np.zeros(self.dim, np.int8)
        # the largest component maps to exactly ±127, so no clipping is needed
        codes: np.ndarray = np.rint(turned * np.float32(LEVELS / peak)).astype(np.int8)
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        turned = np.asarray(codes, np.float32).reshape(-1, self.dim)
        rows = turned @ self.turn.T
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
        return unit
