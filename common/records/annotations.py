"""Records of the annotation store: labels, history, operations, negatives, predictions."""

from __future__ import annotations

import dataclasses
from typing import Any

ANNOTATE, UPDATE, RESET, RELABEL, CARRY = "annotate", "update", "reset", "relabel", "carry"


ACCEPT, REJECT, REVERT, CLUSTER_ANNOTATE = "accept", "reject", "revert", "cluster_annotate"


@dataclasses.dataclass(frozen=True)
class Annotation:
    """A logo's annotation; every field None when it has none."""

    type: str | None = None
    value: str | None = None
    value_tag: str | None = None
    taxonomy_value: str | None = None
    username: str | None = None
    completed_at: str | None = None

    @property
    def annotated(self) -> bool:
        return self.type is not None

    @property
    def key(self) -> tuple[str, str | None] | None:
        """What a vote compares: the type and the canonical value (taxonomy id, else the tag)."""
        if self.type is None:
            return None
        return self.type, self.taxonomy_value or self.value_tag

    def fields(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "value": self.value,
            "value_tag": self.value_tag,
            "taxonomy_value": self.taxonomy_value,
        }


NONE = Annotation()


@dataclasses.dataclass(frozen=True)
class LabelWrite:
    """The new annotation of one logo (``label`` None: reset). ``username``/time come from the call."""

    logo_id: int
    type: str | None
    value: str | None
    value_tag: str | None
    taxonomy_value: str | None


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    id: int
    logo_id: int
    username: str
    changed_at: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    operation_id: int | None = None


@dataclasses.dataclass(frozen=True)
class Applied:
    """One operation: its id and the logos it changed (an operation that changed nothing has an id too)."""

    operation_id: int
    changed: list[int]


@dataclasses.dataclass(frozen=True)
class Reverted:
    """A revert: itself an operation, the logos restored and those skipped (changed since)."""

    operation_id: int
    reverted: int
    restored: list[int]
    skipped: list[int]


@dataclasses.dataclass(frozen=True)
class Operation:
    id: int
    username: str
    action: str
    created_at: str
    params: dict[str, Any]
    changed: int
    logo_ids: list[int]


@dataclasses.dataclass(frozen=True)
class Negative:
    """ "This logo is not (type, value)"; ``value`` is the canonical value ('' for none)."""

    logo_id: int
    type: str
    value: str


@dataclasses.dataclass(frozen=True)
class ValueCount:
    """How far one value is: logos annotated with it, predicted and accepted, predicted below the bar."""

    type: str
    value: str
    annotated: int
    accepted_predictions: int = 0
    candidates: int = 0


@dataclasses.dataclass(frozen=True)
class Prediction:
    logo_id: int
    type: str
    value: str | None
    confidence: float
    precision: float | None
    votes: dict[str, Any]
    updated_at: str = ""


@dataclasses.dataclass(frozen=True)
class LogoQuery:
    """``GET /images/logos/search`` filters; ``value_tag``/``taxonomy_value`` need ``type``."""

    type: str | None = None
    value_tag: str | None = None
    taxonomy_value: str | None = None
    barcode: str | None = None
    annotated: bool | None = None
    min_confidence: float | None = None
    random: bool = False
    count: int = 25
    no_value: bool = False  # only logos annotated without a value (value clusters of such types)
