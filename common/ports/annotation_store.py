"""The annotation store: logos' labels, their history, predictions and calibration runs.

Same database as the metadata store (``SqlAnnotations`` shares its connection pool). Every
write is one transaction; a change that leaves a logo's annotation as it was writes nothing,
so a repeated request changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from common.records.annotations import (
    REJECT,
    Annotation,
    Applied,
    HistoryEntry,
    LabelWrite,
    LogoQuery,
    Negative,
    Operation,
    Prediction,
    Reverted,
    ValueCount,
)


class AnnotationStore(Protocol):
    def get_annotations(self, logo_ids: Sequence[int]) -> dict[int, Annotation]:
        """Every existing logo among ``logo_ids`` (unannotated ones get ``NONE``)."""
        ...

    def write_labels(
        self, writes: Sequence[LabelWrite], username: str, action: str, skip_annotated: bool = False
    ) -> list[int]:
        """Apply the writes in one transaction; an unknown logo raises ``NotFoundError`` and
        nothing is written. Unchanged logos (and annotated ones with ``skip_annotated``) are
        skipped. Each change appends a history entry. Returns the logo ids changed."""
        ...

    def relabel(self, source_type: str, source_tag: str | None, target: LabelWrite, username: str) -> list[int]:
        """Every logo annotated (``source_type``, ``source_tag``) gets ``target``'s label."""
        ...

    def apply_labels(
        self,
        writes: Sequence[LabelWrite],
        username: str,
        action: str,
        skip_annotated: bool = False,
        params: dict[str, Any] | None = None,
    ) -> Applied:
        """``write_labels`` as one recorded operation (its id is in each history entry)."""
        ...

    def apply_relabel(self, source_type: str, source_tag: str | None, target: LabelWrite, username: str) -> Applied:
        """``relabel`` as one recorded operation."""
        ...

    def revert(self, operation_id: int, username: str) -> Reverted:
        """Restore each logo the operation changed to its state before it, unless the logo was
        changed since (skipped); remove the negatives it added that no later operation re-added.
        The revert is an operation itself. Unknown operation: ``NotFoundError``."""
        ...

    def get_operation(self, operation_id: int) -> Operation | None: ...

    def list_operations(self, before: int | None, count: int, sample: int = 12) -> list[Operation]:
        """Operations newest first (ids below ``before``), each with up to ``sample`` of its logos."""
        ...

    def used_values(self, kind: str | None, contains: str, count: int) -> list[tuple[str, str, str, int]]:
        """Annotated values whose tag or canonical value contains ``contains``, most used first:
        ``(type, canonical value, a spelling people used, logos)``."""
        ...

    def add_negatives(self, negatives: Sequence[Negative], username: str, action: str = REJECT) -> Applied:
        """Record "logo is not value" marks in one operation; ``changed``: the logos newly marked."""
        ...

    def negatives_of(self, logo_ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
        """Each logo's negatives as (type, value) pairs (logos without any are absent)."""
        ...

    def logos_negative_for(self, kind: str, value: str) -> set[int]: ...

    def value_counts(
        self, kind: str | None, after: tuple[str, str] | None, count: int, thresholds: dict[str, float]
    ) -> list[ValueCount]:
        """Annotated values in (type, value) order after ``after``, with their prediction counts
        (``accepted``: confidence at or above the type's threshold in ``thresholds``)."""
        ...

    def history(self, logo_id: int) -> list[HistoryEntry]: ...

    def search_logos(self, query: LogoQuery) -> tuple[list[int], int]:
        """Matching logo ids (at most ``count``) and the total number of matches."""
        ...

    def citing_logos(self, logo_ids: Sequence[int]) -> list[int]:
        """The logos whose stored nearest neighbours include one of ``logo_ids``."""
        ...

    def put_predictions(self, predictions: Sequence[Prediction], remove: Sequence[int] = ()) -> None:
        """Replace the stored prediction of each logo (one per logo); drop those of ``remove``."""
        ...

    def get_predictions(self, logo_ids: Sequence[int]) -> dict[int, Prediction]: ...

    def list_predictions(
        self,
        type: str | None = None,
        value: str | None = None,
        min_precision: float | None = None,
        after: int = 0,
        count: int = 100,
    ) -> list[Prediction]:
        """Predictions in logo id order after ``after`` (a keyset cursor)."""
        ...

    def logos_with_neighbours(self, after: int = 0, count: int = 1000) -> list[int]:
        """Logo ids that have stored neighbours, in id order after ``after``."""
        ...

    def count_logos_with_neighbours(self) -> int:
        """How many logos have stored neighbours: the total a re-vote of them all shows progress against."""
        ...

    def annotated_logos(self, after: int = 0, count: int = 10_000) -> list[tuple[int, Annotation]]:
        """Annotated logos in id order after ``after``."""
        ...

    def save_calibration(self, report: dict[str, Any]) -> int: ...

    def latest_calibration(self) -> dict[str, Any] | None: ...
