"""Backfill on the local stack: objects already in a bucket, the backfill topic pushed to ``detect``.

The stack's storage bridge forwards the filer's notifications for the upload bucket and sweeps
that bucket every few seconds, so an object put there reaches ``detect`` by the upload path
whatever the webhook does. Objects that were in storage before the service existed therefore
live in another bucket of the same SeaweedFS, outside the filer webhook's path prefix and the
bridge's bucket: in production, a bucket with no Eventarc trigger on it. ``logo-ann backfill
--mode pubsub`` publishes them to the backfill topic, whose push subscription delivers each one
to the stack's ``detect``; from there they take the upload's path (crops topic → ``embed_index``
→ Triton → Elasticsearch node and PostgreSQL).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from typing import Any

import pg8000.dbapi
from botocore.exceptions import ClientError

from common.adapters.sql.pg_url import parse_database_url
from stack.core import Stack
from stack.parts import REPO
from stack.services import ServiceError
from stack.waiting import WaitTimeout, wait_until
from stack.wiring import process_env, s3_client

FINAL = ("indexed", "failed")


def put_existing(stack: Stack, bucket: str, objects: Iterable[tuple[str, bytes]]) -> int:
    """Create ``bucket`` on the stack's SeaweedFS and put ``(name, JPEG bytes)`` in it; returns the count."""
    s3 = s3_client(stack.env["S3_ENDPOINT_URL"])
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    count = 0
    for name, body in objects:
        s3.put_object(Bucket=bucket, Key=name, Body=body, ContentType="image/jpeg")
        count += 1
    return count


def backfill_env(stack: Stack) -> dict[str, str]:
    """The environment ``logo-ann backfill`` runs with against the stack (whose backfill topic is
    pushed to its ``detect``)."""
    return process_env(stack.env)


def backfill(env: dict[str, str], bucket: str, *options: str, timeout: float = 600) -> dict[str, Any]:
    """``logo-ann backfill --bucket B --mode pubsub [options]`` in its own process; its JSON report."""
    command = [sys.executable, "-m", "common.cli", "backfill", "--bucket", bucket, "--mode", "pubsub", *options]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        raise ServiceError(f"logo-ann backfill failed ({done.returncode}): {done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _query(stack: Stack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = pg8000.dbapi.connect(**parse_database_url(stack.env["DATABASE_URL"]))
    try:
        cursor = conn.cursor()
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        conn.close()


def images(stack: Stack, bucket: str) -> list[tuple[str, str, str]]:
    """``(name, generation, status)`` of every image row of ``bucket`` in the stack's PostgreSQL."""
    try:
        rows = _query(stack, "SELECT name, generation, status FROM image WHERE bucket = %s ORDER BY name, id", bucket)
    except pg8000.dbapi.ProgrammingError:  # the schema is created by the functions' first call
        return []
    return [(str(name), str(generation), str(status)) for name, generation, status in rows]


def logo_counts(stack: Stack, bucket: str) -> tuple[int, int]:
    """(logos, logos with an embedding) of ``bucket``'s images."""
    (row,) = _query(
        stack,
        "SELECT count(l.id), count(e.logo_id) FROM logo l JOIN image i ON i.id = l.image_id"
        " LEFT JOIN embedding e ON e.logo_id = l.id WHERE i.bucket = %s",
        bucket,
    )
    return int(row[0]), int(row[1])


def index_documents(stack: Stack, index: str = "logo") -> int:
    """Documents in the stack's Elasticsearch index (after a refresh)."""
    base = stack.env["ES_URL"]
    urllib.request.urlopen(urllib.request.Request(f"{base}/{index}/_refresh", method="POST"), timeout=10).close()
    with urllib.request.urlopen(f"{base}/{index}/_count", timeout=10) as response:
        return int(json.loads(response.read())["count"])


def wait_final(
    stack: Stack, bucket: str, count: int, deadline_s: float, poll_s: float = 0.2
) -> list[tuple[str, str, str]]:
    """Poll until ``count`` images of ``bucket`` are indexed or failed; the rows (raises past the deadline)."""
    rows: list[tuple[str, str, str]] = []

    def final() -> bool:
        nonlocal rows
        rows = images(stack, bucket)
        return sum(status in FINAL for _, _, status in rows) >= count

    try:
        wait_until(final, deadline_s, interval=poll_s)
    except WaitTimeout:
        states = {status: sum(s == status for _, _, s in rows) for _, _, status in rows}
        raise ServiceError(
            f"{states} of {count} images of {bucket} after {deadline_s:.0f}s: see {stack.root / 'logs'}"
        ) from None
    return rows
