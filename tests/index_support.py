"""Helpers of the embedded indexes' tests: unit vectors, and the part of the store an index reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from common.records.logos import Change


def unit_rows(rng: np.random.Generator, n: int, dim: int, clusters: int = 0, spread: float = 0.5) -> np.ndarray:
    """n unit vectors; with clusters, drawn around random centres (like embeddings of similar logos)."""
    if clusters:
        centres = rng.standard_normal((clusters, dim))
        data = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim))
    else:
        data = rng.standard_normal((n, dim))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


@dataclasses.dataclass
class FakeStore:
    """The part of the metadata store the index reads: embeddings plus their change log."""

    embeddings: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    changes: list[Change] = dataclasses.field(default_factory=list)

    def put(self, logo_id: int, vector: np.ndarray) -> None:
        self.embeddings[logo_id] = vector
        self.changes.append(Change(len(self.changes) + 1, logo_id, "upsert"))

    def remove(self, logo_id: int) -> None:
        self.embeddings.pop(logo_id, None)
        self.changes.append(Change(len(self.changes) + 1, logo_id, "delete"))

    def changes_since(self, seq: int, limit: int = 10_000) -> list[Change]:
        return [c for c in self.changes if c.seq > seq][:limit]

    def last_change_seq(self) -> int:
        return self.changes[-1].seq if self.changes else 0

    def get_embeddings(self, logo_ids: Sequence[int]) -> dict[int, np.ndarray]:
        return {i: self.embeddings[i] for i in logo_ids if i in self.embeddings}

    def embedding_count(self) -> int:
        return len(self.embeddings)

    def iter_embeddings(self, batch_size: int = 10_000) -> Iterator[tuple[list[int], np.ndarray]]:
        ids = sorted(self.embeddings)
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            yield chunk, np.stack([self.embeddings[i] for i in chunk])
