"""``logo-ann taxonomies fetch``, ``logo-ann calibrate``, ``logo-ann predictions export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("taxonomies", help="Open Food Facts taxonomies for annotation values")
    tsub = p.add_subparsers(dest="taxonomies_command", required=True)
    f = tsub.add_parser("fetch", help="download labels, brands and categories .full.json")
    f.add_argument("--dest", default=None, help="folder (default: $LOGO_ANN_HOME/taxonomies, used when set)")
    f.add_argument("--base-url", default=None, help="default: Open Food Facts' static taxonomy folder")
    f.set_defaults(func=cmd_taxonomies_fetch)

    p = sub.add_parser("calibrate", help="leave-one-out calibration of the label vote; refreshes predictions")
    p.add_argument("--target-precision", type=float, default=None, help="default: LOGO_ANN_TARGET_PRECISION")
    p.add_argument("--no-refresh", action="store_true", help="do not re-vote the stored predictions")
    p.add_argument("--full", action="store_true", help="print the whole report (reliability tables, curves, bounds)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("predictions", help="predicted labels")
    psub = p.add_subparsers(dest="predictions_command", required=True)
    e = psub.add_parser("export", help="every stored prediction, one JSON object per line")
    e.add_argument("--json", action="store_true", help="JSON lines (the only format)")
    e.add_argument("--type", default=None)
    e.add_argument("--min-precision", type=float, default=None)
    e.add_argument("--accepted", action="store_true", help="only those at or above their type's threshold")
    e.set_defaults(func=cmd_predictions_export)


def _container() -> Any:
    from common.bootstrap import get_container

    return get_container()


def cmd_taxonomies_fetch(args: argparse.Namespace) -> int:
    from common.labels.taxonomy import OFF_BASE_URL, fetch_taxonomies

    c = _container()
    dest = Path(args.dest) if args.dest else c.settings.home / "taxonomies"
    counts = fetch_taxonomies(dest, base_url=args.base_url or OFF_BASE_URL)
    print(json.dumps({"dest": str(dest), "ids": counts}))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from common.pipeline.calibrate import run_calibration

    c = _container()
    s = c.settings
    target = args.target_precision if args.target_precision is not None else s.target_precision
    if not 0.0 < target <= 1.0:
        print(f"error: --target-precision must be in (0, 1], got {target}", file=sys.stderr)
        return 2
    report = run_calibration(c.propagation(), target, s.calibration_min_support, 20, refresh=not args.no_refresh)
    if not args.full:
        report = {k: v for k, v in report.items() if k not in ("reliability", "curves", "bounds")}
    print(json.dumps(report, indent=2))
    return 0


def cmd_predictions_export(args: argparse.Namespace) -> int:
    from common.api.label_details import prediction_row
    from common.labels.values import normalise_type

    c = _container()
    kind = normalise_type(args.type) if args.type else None
    report = c.propagation().report()
    after, written = 0, 0
    while page := c.notes.list_predictions(type=kind, min_precision=args.min_precision, after=after, count=1000):
        for prediction in page:
            row = prediction_row(prediction, report)
            if not args.accepted or row["accepted"]:
                print(json.dumps(row), flush=False)
                written += 1
        after = page[-1].logo_id
    sys.stdout.flush()
    print(f"{written} predictions", file=sys.stderr)
    return 0
