"""The quests' clusters: which unannotated logos belong together, kept in the metadata store's database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from common.records.quests import Cluster, ClusterWrite


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
