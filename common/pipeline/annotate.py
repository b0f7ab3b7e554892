"""Use cases: annotate, change, reset and mass-relabel logos, then push the change to the votes.

Every input is validated before anything is written (Robotoff's rules, ``common.labels.values``);
the write is one transaction with its history entries; the user is the verified identity the
caller passes. Re-votes follow through ``Propagation.push`` (inline up to a bound, else queued).

The push covers every logo the request names, changed or not: if it fails after the write (the
queue unreachable: 503), the client's retry writes nothing new but pushes again, so no re-vote is
lost; re-voting an unchanged neighbourhood stores the same predictions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from common.labels.taxonomy import Taxonomies
from common.labels.values import LabelValue, parse_label
from common.pipeline.propagate import Propagation, PushResult
from common.pipeline.quests import Quests
from common.ports.annotation_store import AnnotationStore
from common.records.annotations import ANNOTATE, RESET, UPDATE, Applied, LabelWrite


@dataclasses.dataclass
class Annotator:
    notes: AnnotationStore
    taxonomies: Taxonomies
    propagation: Propagation
    last_push: PushResult = PushResult(0, 0)
    last_operation: int | None = None  # the operation of the last write (routes answer its id)
    # the quests' clusters follow annotations: told the logos each write changed
    quests: Quests | None = None

    def _done(self, applied: Applied, pushed: Sequence[int]) -> Applied:
        self.last_operation = applied.operation_id
        self.last_push = self.propagation.push(pushed)
        if self.quests is not None and applied.changed:
            self.quests.update(applied.changed)
        return applied

    def label_many(
        self,
        logo_ids: Sequence[int],
        kind: object,
        value: object,
        username: str,
        action: str,
        params: dict[str, Any] | None = None,
    ) -> Applied:
        """One label on many logos in one operation; annotated logos are skipped."""
        label = parse_label(kind, value)
        writes = [self._write(i, label) for i in logo_ids]
        applied = self.notes.apply_labels(writes, username, action, skip_annotated=True, params=params)
        return self._done(applied, [w.logo_id for w in writes])

    def set_label(self, logo_id: int, kind: object, value: object, username: str, action: str) -> Applied:
        """Set one logo's label (annotated or not) as one operation of ``action``."""
        applied = self.notes.apply_labels([self._write(logo_id, parse_label(kind, value))], username, action)
        return self._done(applied, [logo_id])

    def _write(self, logo_id: int, label: LabelValue | None) -> LabelWrite:
        if label is None:
            return LabelWrite(int(logo_id), None, None, None, None)
        taxonomy = self.taxonomies.taxonomy_value(label.type, label.tag)
        return LabelWrite(int(logo_id), label.type, label.value, label.tag, taxonomy)

    def annotate(self, items: Sequence[tuple[int, object, object]], username: str) -> int:
        """Robotoff's ``annotate``: logos that already have a type are skipped; an unknown id
        fails the whole batch. Returns the number of logos annotated."""
        writes = [self._write(logo_id, parse_label(kind, value)) for logo_id, kind, value in items]
        applied = self.notes.apply_labels(writes, username, ANNOTATE, skip_annotated=True)
        return len(self._done(applied, [w.logo_id for w in writes]).changed)

    def update(self, logo_id: int, kind: object, value: object, username: str) -> bool:
        """Set a logo's label (every derived field recomputed); False when it was already so."""
        return bool(self.set_label(logo_id, kind, value, username, UPDATE).changed)

    def reset(self, logo_id: int, username: str) -> bool:
        applied = self.notes.apply_labels([self._write(logo_id, None)], username, RESET)
        return bool(self._done(applied, [logo_id]).changed)

    def relabel(
        self, source_type: object, source_value: object, target_type: object, target_value: object, username: str
    ) -> int:
        """Every logo labelled (source type, source value) (compared by value tag) gets the target."""
        source = parse_label(source_type, source_value)
        target = self._write(0, parse_label(target_type, target_value))
        applied = self.notes.apply_relabel(source.type, source.tag, target, username)
        return len(self._done(applied, applied.changed).changed)
