"""Use case: keep each logo's predicted label in step with its neighbours' annotations.

- ``revote(ids)``: vote again for these logos and store the result, one prediction per logo
  (replaced; removed when the logo is annotated or no annotated neighbour is within reach).
- ``push(changed)``: an annotation of ``changed`` was written, given or reset: re-vote the
  changed logos and every logo whose stored neighbours include one of them. Up to
  ``inline_max`` logos are re-voted at once (inside the request); more go to the work queue as
  re-vote messages, so a request never re-votes past the bound. In the cloud ``embed_index``
  runs them; embedded, the deferred-work thread (``common.pipeline.deferred``), after the
  request has returned.
- ``refresh_all()``: re-vote every logo with stored neighbours (after a calibration).

The precision estimate of each prediction comes from the latest calibration run, re-read at
most every ``report_ttl_s`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from common.labels.calibration import precision_for
from common.labels.vote import Key, VoteParams, vote
from common.messages import MAX_REVOTE_IDS, RevoteMessage
from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore
from common.ports.work_queue import WorkQueue
from common.records.annotations import Prediction

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PushResult:
    revoted: int
    queued: int


class Propagation:
    def __init__(
        self,
        store: MetadataStore,
        notes: AnnotationStore,
        params: VoteParams,
        queue: WorkQueue | None,
        inline_max: int,
        report_ttl_s: float = 30.0,
    ) -> None:
        self.store = store
        self.notes = notes
        self.params = params
        self.queue = queue
        self.inline_max = inline_max
        self.report_ttl_s = report_ttl_s
        self._report: dict[str, Any] | None = None
        self._report_at = -float("inf")
        self._lock = threading.Lock()
        self._vote_lock = threading.Lock()  # one re-vote at a time per process: none stores a stale read

    def report(self) -> dict[str, Any] | None:
        with self._lock:
            if time.monotonic() - self._report_at >= self.report_ttl_s:
                self._report = self.notes.latest_calibration()
                self._report_at = time.monotonic()
            return self._report

    def forget_report(self) -> None:
        with self._lock:
            self._report_at = -float("inf")

    def predict(self, logo_ids: Sequence[int]) -> tuple[list[Prediction], list[int]]:
        """The predictions of these logos (and the ids that get none), without storing them."""
        ids = list(dict.fromkeys(int(i) for i in logo_ids))
        own = self.notes.get_annotations(ids)
        lists = self.store.get_neighbours(ids)
        voters = {int(n) for found in lists.values() for n in found.get("logo_ids", [])}
        labels: dict[int, Key] = {
            i: a.key for i, a in self.notes.get_annotations(sorted(voters)).items() if a.key is not None
        }
        banned = {i: {(t, v or None) for t, v in found} for i, found in self.notes.negatives_of(ids).items()}
        report = self.report()
        predictions, none = [], []
        for logo_id in ids:
            found = lists.get(logo_id)
            result = None
            if logo_id in own and not own[logo_id].annotated and found is not None:
                pairs = list(zip(found.get("logo_ids", []), found.get("distances", []), strict=False))
                neighbours = [(int(i), float(d)) for i, d in pairs]
                result = vote(neighbours, labels, self.params, exclude=logo_id, banned=banned.get(logo_id, ()))
            if result is None:
                none.append(logo_id)
                continue
            precision = precision_for(report, result.type, result.confidence)
            predictions.append(
                Prediction(logo_id, result.type, result.value, result.confidence, precision, result.votes)
            )
        return predictions, none

    def revote(self, logo_ids: Sequence[int]) -> int:
        """Vote again for these logos and store the outcome; returns how many were voted."""
        with self._vote_lock:
            predictions, none = self.predict(logo_ids)
            self.notes.put_predictions(predictions, remove=none)
        return len(predictions) + len(none)

    def push(self, changed: Sequence[int]) -> PushResult:
        if not changed:
            return PushResult(0, 0)
        targets = sorted(set(int(i) for i in changed) | set(self.notes.citing_logos(changed)))
        if len(targets) <= self.inline_max or self.queue is None:
            return PushResult(self.revote(targets), 0)
        for start in range(0, len(targets), MAX_REVOTE_IDS):
            self.queue.publish(RevoteMessage(tuple(targets[start : start + MAX_REVOTE_IDS])))
        logger.info("%d logos to re-vote: sent to the queue", len(targets))
        return PushResult(0, len(targets))

    def refresh_all(self, batch: int = 1000, advance: Callable[[int], object] | None = None) -> int:
        """Re-vote every logo that has neighbours; ``advance(n)`` after each batch of ``n``."""
        self.forget_report()
        done, after = 0, 0
        while ids := self.notes.logos_with_neighbours(after=after, count=batch):
            done += self.revote(ids)
            after = ids[-1]
            if advance is not None:
                advance(len(ids))
        return done
