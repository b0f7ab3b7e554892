"""``logo-ann import robotoff`` and ``logo-ann backfill``: moving a Robotoff deployment over."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("import", help="import logos from another system")
    isub = p.add_subparsers(dest="import_command", required=True)
    r = isub.add_parser("robotoff", help="import a Robotoff database (or its export-logos JSONL), then index it")
    source = r.add_mutually_exclusive_group(required=True)
    source.add_argument("--database-url", help="postgresql://user:password@host:port/robotoff")
    source.add_argument("--jsonl", help="a file written by Robotoff's export-logos (.jsonl or .jsonl.gz)")
    r.add_argument("--bucket", default=None, help="the bucket the images live in (default LOGO_ANN_BUCKET)")
    r.add_argument(
        "--object-prefix",
        default=None,
        help="prepended to source_image minus its leading '/' (default LOGO_ANN_OFF_IMAGE_PREFIX)",
    )
    r.add_argument("--batch-size", type=int, default=5_000)
    r.add_argument("--restart", action="store_true", help="forget this source's checkpoint and read it again")
    r.add_argument("--no-index", action="store_true", help="do not index the embeddings afterwards")
    r.set_defaults(func=cmd_import_robotoff)


def cmd_import_robotoff(args: argparse.Namespace) -> int:
    """Print the report as one JSON object; progress lines go to stderr."""
    from common.adapters.sql.imports import SqlImports
    from common.bootstrap import get_container
    from common.pipeline.adopt import ImportSource, run_import

    c = get_container()
    source: ImportSource
    if args.database_url:
        from common.adapters.robotoff_db import RobotoffDatabase

        source = RobotoffDatabase(args.database_url)
    else:
        from common.adapters.robotoff_jsonl import RobotoffJsonl

        source = RobotoffJsonl(Path(args.jsonl))
    bucket = args.bucket or c.settings.bucket
    prefix = c.settings.off_image_prefix if args.object_prefix is None else args.object_prefix
    report = run_import(source, SqlImports.of(c.store), bucket, prefix, args.batch_size,
                        restart=args.restart)  # fmt: skip
    body = report.as_dict()
    if not args.no_index:
        indexed, seconds = _index(c)
        body.update(index_seconds=round(seconds, 3), indexed=indexed, index_documents=c.index.count())
    print(json.dumps(body))
    return 0


def _index(c: Any) -> tuple[int, float]:
    """Bring the ANN index up to the store: the embedded one from its change log, others by reconcile.
    Returns (documents indexed, seconds)."""
    from common.bootstrap import DerivedIndex
    from common.pipeline.adopt import index_imported

    started = time.perf_counter()
    index: Any = c.index  # an embedded index catches up from the change log as it opens
    if isinstance(index, DerivedIndex):  # every stored embedding is in it now
        embedded: Any = index
        embedded.catch_up(c.store)
        embedded.flush()
        print(f"index: {embedded.count():,} documents", file=sys.stderr)
        return int(embedded.count()), time.perf_counter() - started
    added, seconds = index_imported(c.store, index)
    return added, time.perf_counter() - started
