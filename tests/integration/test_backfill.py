"""``backfill`` in the embedded default: every object already in the bucket, once, as an upload would.

Real local bucket, SQLite, onnxruntime (stand-in models) and usearch; the use case runs
detect → embed_index in-process. Covers skip-as-done (an object already uploaded, an image
imported from Robotoff), failures with reasons, resume from the cursor after a persistent
outage, an upload arriving in the middle, ``--since``, and the pace.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pytest

from common.adapters.backfill_sinks import InProcessDetect
from common.adapters.sql.backfills import SqlBackfills
from common.bootstrap import Container
from common.domain import ObjectRef, StoredObject
from common.errors import DependencyError
from common.pipeline.backfill import BackfillDeps, BackfillRequest, _Pace, run_backfill
from common.ports.metadata_store import INDEXED
from tests.reliability.embedded import embedded_container, index_matches_store
from tests.reliability.test_reconcile import picture

pytestmark = pytest.mark.integration
BUCKET = "existing"


@pytest.fixture
def container(tmp_path: Path) -> Container:
    c = embedded_container(tmp_path / "home")
    for i in range(6):
        c.images.put(BUCKET, f"photos/p{i}.png", picture(200 + i))
    c.images.put(BUCKET, "photos/broken.png", b"not an image at all")
    c.images.put(BUCKET, "other/skip-me.png", picture(300))
    return c


def _deps(c: Container, sink: Any = None) -> BackfillDeps:
    return BackfillDeps(c.store, c.images, SqlBackfills.of(c.store), sink or InProcessDetect(c.detect))  # type: ignore[arg-type]


def _rows(c: Container, name: str) -> list[tuple[Any, ...]]:
    sql = "SELECT i.generation, i.status, count(l.id) FROM image i LEFT JOIN logo l ON l.image_id = i.id"
    return c.store.db.run(lambda tx: tx.rows(sql + " WHERE i.name = ? GROUP BY i.id", name), write=False)  # type: ignore[attr-defined]


def test_backfill_processes_each_object_once_and_reports(container: Container) -> None:
    c = container
    uploaded = c.images.stat(BUCKET, "photos/p0.png")
    assert uploaded is not None and c.detect(StoredObject(uploaded)).status == INDEXED
    c.store.upsert_image(ObjectRef(BUCKET, "photos/p1.png", "0"), None, None)  # imported from Robotoff

    out = io.StringIO()
    report = run_backfill(_deps(c), BackfillRequest(BUCKET, "photos/"), stream=out).as_dict()

    assert (report["processed"], report["skipped_as_done"], report["failed"]) == (4, 2, 1)
    assert report["failures"][0]["object"] == "photos/broken.png" and report["failures"][0]["reason"]
    assert out.getvalue().strip().splitlines()[-1].startswith("backfill: 7 objects, ")
    for i in range(2, 6):
        ((generation, status, logos),) = _rows(c, f"photos/p{i}.png")
        assert status == INDEXED and logos == 1 and generation != "0"
    assert _rows(c, "other/skip-me.png") == []  # outside the prefix
    indexed, stored = index_matches_store(c)
    assert indexed == stored and len(stored) == 5  # p0 uploaded + p2..p5 backfilled

    again = run_backfill(_deps(c), BackfillRequest(BUCKET, "photos/"), stream=io.StringIO()).as_dict()
    assert again["this_run"]["listed"] == 0 and again["processed"] == 4  # the cursor is at the end
    restarted = run_backfill(_deps(c), BackfillRequest(BUCKET, "photos/", restart=True), stream=io.StringIO())
    # everything is done now, the corrupt object too: detect recorded its permanent failure
    assert restarted.this_run["skipped_as_done"] == 7 and restarted.this_run["processed"] == 0
    assert all(len(_rows(c, f"photos/p{i}.png")) == 1 for i in range(6))


class _Outage:
    """Detect in-process, but storage is down from the ``fail_from``-th object on."""

    mode = "in-process"

    def __init__(self, c: Container, fail_from: int) -> None:
        self.inner, self.calls, self.fail_from = InProcessDetect(c.detect), 0, fail_from

    def send(self, stored: StoredObject) -> str | None:
        self.calls += 1
        if self.calls >= self.fail_from:
            raise DependencyError("storage", "connection refused")
        return self.inner.send(stored)


def test_backfill_stops_on_a_persistent_outage_and_resumes_after_its_cursor(container: Container) -> None:
    c = container
    sleeps: list[float] = []
    deps = _deps(c, _Outage(c, fail_from=3))
    deps.sleep = sleeps.append
    out = io.StringIO()
    with pytest.raises(DependencyError):
        run_backfill(deps, BackfillRequest(BUCKET, "photos/", retries=2), stream=out)
    assert sleeps == [0.5, 1.0]  # retried with back-off before giving up
    assert out.getvalue().strip().splitlines()[-1].startswith("backfill: 2 objects, ")  # what it did, shown
    cursor = SqlBackfills.of(c.store).cursor("existing/photos/")
    assert cursor is not None and cursor.last_object == "photos/p0.png"  # broken.png, then p0, then p1 failed
    assert (cursor.processed, cursor.failed) == (1, 1)

    report = run_backfill(_deps(c), BackfillRequest(BUCKET, "photos/"), stream=io.StringIO())
    assert report.this_run["listed"] == 5  # p1..p5, after the cursor
    assert (report.cursor.processed, report.cursor.failed) == (6, 1)
    assert all(len(_rows(c, f"photos/p{i}.png")) == 1 for i in range(6))


class _UploadRace:
    """The object's own upload event is handled between the listing and the backfill's send."""

    mode = "in-process"

    def __init__(self, c: Container) -> None:
        self.c, self.inner = c, InProcessDetect(c.detect)

    def send(self, stored: StoredObject) -> str | None:
        upload = StoredObject(stored.ref, stored.size, "image/png")  # the upload's own event
        assert self.c.detect(upload).status in (INDEXED, "failed")
        return self.inner.send(stored)


def test_an_upload_arriving_meanwhile_is_processed_once(container: Container) -> None:
    c = container
    report = run_backfill(_deps(c, _UploadRace(c)), BackfillRequest(BUCKET, "photos/"), stream=io.StringIO())
    assert report.cursor.processed == 6
    for i in range(6):
        ((_, status, logos),) = _rows(c, f"photos/p{i}.png")
        assert status == INDEXED and logos == 1
    indexed, stored = index_matches_store(c)
    assert indexed == stored and len(stored) == 6


def test_since_leaves_older_objects_out(container: Container, tmp_path: Path) -> None:
    c = container
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp()
    for i in range(3):
        os.utime(tmp_path / "home" / "buckets" / BUCKET / "photos" / f"p{i}.png", (old, old))
    since = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    report = run_backfill(_deps(c), BackfillRequest(BUCKET, "photos/", since=since), stream=io.StringIO())
    assert report.this_run["older_than_since"] == 3 and report.this_run["processed"] == 3
    assert all(_rows(c, f"photos/p{i}.png") == [] for i in range(3))
    assert report.cursor.name == "existing/photos/@2024-01-01T00:00:00+00:00"


def test_pace_spaces_calls_at_the_rate() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    pace = _Pace(4.0, sleep, lambda: clock[0])
    for _ in range(5):
        pace.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25] and clock[0] == pytest.approx(1.0)
