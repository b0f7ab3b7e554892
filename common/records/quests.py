"""Records of the quests' clusters of unannotated look-alikes."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Cluster:
    id: int
    size: int
    logo_ids: tuple[int, ...]
    representative_logo_id: int
    radius: float


@dataclasses.dataclass(frozen=True)
class ClusterWrite:
    """A cluster to store: ``id`` None gets a new id."""

    id: int | None
    logo_ids: tuple[int, ...]
    representative_logo_id: int
    radius: float
