"""Backfill on the cloud-shaped stack: objects stored before the service, sent through the backfill topic.

The photos go into a bucket of the stack's SeaweedFS that no storage notification covers (the
upload path never sees them). ``logo-ann backfill --mode pubsub`` publishes each to the backfill
topic, whose push subscription delivers it to the stack's ``detect``; they must all end indexed in
PostgreSQL with their logos embedded and in the Elasticsearch node, each image once. A second
backfill from the start skips every one as done and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.samples import write_samples
from stack import backfill as sb
from stack.core import Stack
from tests.integration import test_stack_e2e

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EXISTING = "existing"
PHOTOS = 3
DEADLINE_S = 180.0
stack = test_stack_e2e.stack  # a stack of this module's own, started as the end-to-end test's is


def test_objects_already_stored_are_backfilled_through_detect_once(stack: Stack, tmp_path: Path) -> None:
    photos = write_samples(tmp_path / "photos", PHOTOS, seed=23)
    names = [f"old/{path.name}" for path in photos]
    assert sb.put_existing(stack, EXISTING, zip(names, (path.read_bytes() for path in photos), strict=True)) == PHOTOS
    env = sb.backfill_env(stack)

    report = sb.backfill(env, EXISTING, "--rate", "20")
    # processed, not skipped: nothing had recorded these objects before the backfill sent them
    assert (report["mode"], report["processed"], report["skipped_as_done"], report["failed"]) == ("pubsub", 3, 0, 0)

    rows = sb.wait_final(stack, EXISTING, PHOTOS, DEADLINE_S)
    assert sorted(name for name, _, _ in rows) == sorted(names)  # one row per object: no duplicate image
    assert all(status == "indexed" for _, _, status in rows), rows
    logos, embedded = sb.logo_counts(stack, EXISTING)
    assert logos > 0 and embedded == logos
    assert sb.index_documents(stack) == logos  # every logo in the index, none twice
    assert sb.images(stack, stack.env["BUCKET"]) == []  # none of it came by the upload path

    again = sb.backfill(env, EXISTING, "--restart")
    assert again["this_run"]["listed"] == PHOTOS
    assert (again["this_run"]["processed"], again["this_run"]["skipped_as_done"]) == (0, PHOTOS)
    assert sb.images(stack, EXISTING) == rows
    assert sb.logo_counts(stack, EXISTING) == (logos, embedded)
    assert sb.index_documents(stack) == logos
