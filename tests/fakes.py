"""Hand-written fakes for unit tests: tiny, obvious, wired through the same use cases."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import PIL.Image

from common.domain import Detection, Neighbour, ObjectRef, cosine_to_distance
from common.errors import DependencyError, NotFoundError
from common.messages import CropsMessage


class DictImageStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.down = False
        self._generation = 1000

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "") -> ObjectRef:
        self._generation += 1
        self.objects[(bucket, name)] = (str(self._generation), data)
        return ObjectRef(bucket, name, str(self._generation))

    def stat(self, bucket: str, name: str) -> ObjectRef | None:
        found = self.objects.get((bucket, name))
        return ObjectRef(bucket, name, found[0]) if found else None

    def get(self, ref: ObjectRef) -> bytes:
        if self.down:
            raise DependencyError("storage", "unreachable")
        found = self.objects.get((ref.bucket, ref.name))
        if found is None or (ref.generation != "0" and found[0] != ref.generation):
            raise NotFoundError(f"{ref.bucket}/{ref.name}#{ref.generation}")
        return found[1]

    def delete(self, ref: ObjectRef) -> None:
        self.objects.pop((ref.bucket, ref.name), None)


class ListQueue:
    def __init__(self) -> None:
        self.messages: list[CropsMessage] = []

    def publish(self, message: CropsMessage) -> None:
        self.messages.append(message)


class BruteForceIndex:
    """Exact search over a dict: the reference the real indexes are compared with."""

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim  # ColourEmbedder's
        self.vectors: dict[int, np.ndarray] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise DependencyError("index", "unreachable")

    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        self._check()
        for logo_id, vector in zip(ids, vectors, strict=True):
            self.vectors[int(logo_id)] = np.asarray(vector, dtype=np.float32)

    def delete(self, ids: Iterable[int]) -> None:
        self._check()
        for logo_id in ids:
            self.vectors.pop(int(logo_id), None)

    def search(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Neighbour]:
        self._check()
        scored = [(cosine_to_distance(float(np.dot(v, vector))), i) for i, v in self.vectors.items() if i != exclude]
        return [Neighbour(i, d) for d, i in sorted(scored)[:k]]

    def ids(self) -> set[int]:
        return set(self.vectors)

    def get_vectors(self, ids: Sequence[int]) -> Mapping[int, np.ndarray]:
        return {i: self.vectors[i] for i in ids if i in self.vectors}

    def count(self) -> int:
        return len(self.vectors)

    def flush(self) -> None:
        self._check()

    def health(self) -> Mapping[str, Any]:
        return {"documents": len(self.vectors)}


class CannedDetector:
    """Returns the same detections for every image."""

    version = "canned-1"
    standin = False

    def __init__(self, detections: list[Detection]) -> None:
        self.detections = detections
        self.calls = 0

    def detect(self, image: PIL.Image.Image) -> list[Detection]:
        self.calls += 1
        return list(self.detections)


class ColourEmbedder:
    """Embeds a crop by its mean colour plus a hash-seeded jitter: same pixels, same vector."""

    version = "colour-1"
    standin = False
    recipe = "robotoff-v1"
    dim = 8

    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def embed(self, crops: Sequence[PIL.Image.Image]) -> np.ndarray:
        if self.down:
            raise DependencyError("triton", "unreachable")
        self.calls += 1
        rows = []
        for crop in crops:
            pixels = np.asarray(crop.convert("RGB"), dtype=np.float32) / 255.0
            seed = int.from_bytes(hashlib.sha256(pixels.tobytes()).digest()[:4], "little")
            jitter = np.random.default_rng(seed).normal(0, 0.01, 5)
            row = np.concatenate([pixels.mean(axis=(0, 1)), jitter]).astype(np.float32) + 0.05
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows)
