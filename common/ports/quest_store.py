"""The quests' clusters: which unannotated logos belong together, kept in the metadata store's database."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol


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


class QuestStore(Protocol):
    def clusters_built(self) -> bool:
        """Whether the clusters were ever built in full (until then, a first read builds them)."""
        ...

    def cluster_ids_of(self, logo_ids: Sequence[int]) -> dict[int, int]:
        """The cluster of each of these logos that is in one."""
        ...

    def get_clusters(self, cluster_ids: Sequence[int]) -> dict[int, Cluster]: ...

    def replace_clusters(self, remove: Sequence[int], write: Sequence[ClusterWrite], full: bool = False) -> list[int]:
        """Drop the clusters ``remove``, store ``write`` (their members move to them), in one
        transaction; ``full``: this replaces every cluster (a full build). Returns the ids written."""
        ...

    def list_clusters(self, min_size: int, after: tuple[int, int] | None, count: int) -> list[Cluster]:
        """Clusters of at least ``min_size`` logos, largest first (then by id), after the
        ``(size, id)`` position of the previous page."""
        ...
