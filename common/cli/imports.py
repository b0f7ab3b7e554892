"""``logo-ann import robotoff`` and ``logo-ann backfill``: moving a Robotoff deployment over.

Each command reaches its adapters (the Robotoff source, the checkpoints, the backfill's sink, the
dead-letter subscription) through the container (``common.bootstrap``), which builds them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.cli.support import command, container, number
from common.errors import CommandError

if TYPE_CHECKING:
    from common.bootstrap import Container
    from common.pipeline.backfill import BackfillSink


def add_commands(sub: Any) -> None:
    p = command(sub, "import", "import logos from another system (Robotoff), under the same ids")
    isub = p.add_subparsers(dest="import_command", required=True, metavar="SOURCE")
    r = command(isub, "robotoff", "import a Robotoff database (or its export-logos JSONL), then index it; resumable")
    source = r.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--database-url",
        metavar="URL",
        help="Robotoff's PostgreSQL database, postgresql://user:password@host:port/robotoff",
    )
    source.add_argument(
        "--jsonl", metavar="FILE", help="a file written by Robotoff's export-logos (.jsonl or .jsonl.gz)"
    )
    r.add_argument("--bucket", default=None, help="the bucket the images live in (default: LOGO_ANN_BUCKET)")
    r.add_argument(
        "--object-prefix",
        default=None,
        help="prepended to source_image minus its leading '/' (default: LOGO_ANN_OFF_IMAGE_PREFIX)",
    )
    r.add_argument("--batch-size", type=number(int, 1, 1_000_000), default=5_000, help="rows read and written at once")
    r.add_argument("--restart", action="store_true", help="forget this source's checkpoint and read it again")
    r.add_argument("--no-index", action="store_true", help="do not index the embeddings afterwards")
    r.set_defaults(func=cmd_import_robotoff, data="write")

    b = command(sub, "backfill", "send every object already in a bucket through detect and embed_index; resumable")
    b.add_argument("--bucket", required=True, help="the bucket to list")
    b.add_argument("--prefix", default="", help="only objects whose name starts with this (default: all)")
    b.add_argument("--since", default=None, metavar="DATE", help="only objects modified at or after this ISO 8601 date")
    b.add_argument("--name", default=None, help="the backfill's cursor (default: bucket/prefix@since)")
    b.add_argument(
        "--rate", type=number(float, 0), default=0.0, help="objects per second at most (default: 0, no limit)"
    )
    b.add_argument(
        "--mode",
        choices=("auto", "in-process", "pubsub"),
        default="auto",
        help="in-process detect, or the backfill topic (auto: pubsub when LOGO_ANN_QUEUE=pubsub)",
    )
    b.add_argument("--restart", action="store_true", help="forget this backfill's cursor and list from the start")
    b.set_defaults(func=cmd_backfill, data="write")

    d = command(sub, "dead-letters", "list or replay the messages a dead-letter subscription holds")
    dsub = d.add_subparsers(dest="dead_letters_command", required=True, metavar="COMMAND")
    for verb, helptext in (("list", "print the held messages (left in place)"),
                           ("replay", "publish them back to their topic, then acknowledge them")):  # fmt: skip
        v = command(dsub, verb, helptext)
        v.add_argument("--which", choices=("crops", "backfill"), default="crops", help="which dead-letter subscription")
        v.add_argument("--max", type=number(int, 1, 100_000), default=100, help="at most this many messages")
        v.set_defaults(func=cmd_dead_letters, verb=verb)


def cmd_import_robotoff(args: argparse.Namespace) -> int:
    """Print the report as one JSON object; progress lines go to stderr."""
    from common.pipeline.imports import run_import

    c = container()
    if not args.database_url and not Path(args.jsonl).is_file():
        raise CommandError(f"no such file: {args.jsonl}; check the path (nothing was imported)")
    source = c.robotoff_source(args.database_url, Path(args.jsonl) if args.jsonl else None)
    bucket = args.bucket or c.settings.bucket
    prefix = c.settings.off_image_prefix if args.object_prefix is None else args.object_prefix
    report = run_import(source, c.imports(), bucket, prefix, args.batch_size,
                        restart=args.restart, dim=lambda: _embedder_dim(c))  # fmt: skip
    body = report.as_dict()
    if not args.no_index and next(iter(c.store.iter_embeddings(batch_size=1)), None) is not None:
        indexed, seconds = _index(c)
        body.update(index_seconds=round(seconds, 3), indexed=indexed, index_documents=c.index.count())
    print(json.dumps(body))
    summary = (f"import: {report.rows} rows read in {report.seconds:.1f} s, {body.get('imported', 0)} logos imported, "
               f"{len(report.failures)} refused")  # fmt: skip
    if "index_documents" in body:
        summary += f"; the index holds {body['index_documents']} logos"
    print(summary, file=sys.stderr)
    return 0


def _embedder_dim(c: Container) -> int | None:
    """The size of the vectors this deployment makes, or None when it has no embedder yet (an
    embedded home with no model file: Robotoff's vectors then set the index's size)."""
    s = c.settings
    if s.model_runtime == "onnx" and not Path(s.embedder_model).is_file():
        return None
    return int(c.embedding_dim())


def _index(c: Container) -> tuple[int, float]:
    """Bring the ANN index up to the store: the embedded one from its change log, others by reconcile.
    Returns (documents indexed, seconds)."""
    from common.bootstrap import DerivedIndex
    from common.pipeline.imports import index_imported

    started = time.perf_counter()
    index: Any = c.index  # an embedded index catches up from the change log as it opens
    if isinstance(index, DerivedIndex):  # every stored embedding is in it now
        embedded: Any = index
        embedded.catch_up(c.store)
        embedded.flush()
        return int(embedded.count()), time.perf_counter() - started
    added, seconds = index_imported(c.store, index)
    return added, time.perf_counter() - started


def cmd_backfill(args: argparse.Namespace) -> int:
    """Progress lines on stderr, then the final report as one JSON object on stdout."""
    import datetime as dt

    from common.errors import ConfigError
    from common.pipeline.backfill import BackfillDeps, BackfillRequest, run_backfill

    c = container()
    since = None
    if args.since:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError as exc:
            raise ConfigError(f"--since {args.since!r}: expected an ISO 8601 date, e.g. 2024-01-31") from exc
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    if not hasattr(c.images, "list_objects"):
        raise ConfigError(f"{type(c.images).__name__} cannot list a bucket")
    sink: BackfillSink = c.backfill_sink(args.mode)
    request = BackfillRequest(args.bucket, args.prefix, since, args.name, args.rate, args.restart)
    try:
        report = run_backfill(BackfillDeps(c.store, c.images, c.backfills(), sink), request)  # type: ignore[arg-type]
    finally:
        close = getattr(sink, "close", None)
        if callable(close):
            close()
    summary = f"backfill: {_counts(report.this_run)} in {report.seconds:.1f} s"
    if sink.mode == "in-process" and report.this_run["processed"]:  # (no model is loaded for an empty run)
        index = c.fresh_index()
        index.flush()  # saved now rather than caught up from the change log at the next start
        summary += f"; the index holds {index.count()} logos"
    print(json.dumps(report.as_dict()))
    print(summary, file=sys.stderr)
    if not report.cursor.last_object:  # never listed anything: most likely a mistyped bucket or prefix
        local = c.settings.image_store == "local"
        where = f" (local buckets are the folders in {c.settings.local_bucket_dir})" if local else ""
        print(
            f"backfill: no object in {args.bucket}/{args.prefix}: check --bucket and --prefix{where}", file=sys.stderr
        )
    this_run = report.this_run
    return 1 if this_run["failed"] and not (this_run["processed"] or this_run["skipped_as_done"]) else 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items() if n or what == "processed")


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """``list``: one JSON line per held message; ``replay``: one JSON object with the count."""
    c = container()
    s = c.settings
    subscription, topic = {
        "crops": (s.crops_dead_letter_subscription, s.crops_topic),
        "backfill": (s.backfill_dead_letter_subscription, s.backfill_topic),
    }[args.which]
    letters = c.dead_letters()
    try:
        if args.verb == "list":
            for letter in letters.held(subscription, args.max):
                print(json.dumps(letter.summary()))
            return 0
        publisher = c.publisher(topic)
        try:
            replayed = letters.replay(subscription, publisher, args.max)
        finally:
            publisher.close()
        print(json.dumps({"replayed": len(replayed), "to": publisher.topic_path,
                          "message_ids": [letter.message_id for letter in replayed]}))  # fmt: skip
        return 0
    finally:
        letters.close()
