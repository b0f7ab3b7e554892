"""``logo-ann taxonomies fetch``, ``logo-ann calibrate``, ``logo-ann predictions export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from common.cli.support import command, container, number
from common.errors import CommandError

PRECISION_TARGET = number(float, 0.0, 1.0, low_open=True)


def add_commands(sub: Any) -> None:
    p = command(sub, "taxonomies", "Open Food Facts taxonomies for annotation values")
    tsub = p.add_subparsers(dest="taxonomies_command", required=True, metavar="COMMAND")
    f = command(tsub, "fetch", "download labels, brands and categories .full.json")
    f.add_argument("--dest", default=None, help="folder (default: $LOGO_ANN_HOME/taxonomies, where they are used)")
    f.add_argument(
        "--base-url", default=None, help="where to download from (default: Open Food Facts' static taxonomies)"
    )
    f.set_defaults(func=cmd_taxonomies_fetch)

    p = command(sub, "calibrate", "leave-one-out calibration of the label vote; refreshes the stored predictions")
    p.add_argument(
        "--target-precision",
        type=PRECISION_TARGET,
        default=None,
        help="the precision a type's threshold must show, in (0, 1] (default: LOGO_ANN_TARGET_PRECISION)",
    )
    p.add_argument("--no-refresh", action="store_true", help="do not re-vote the stored predictions")
    p.add_argument("--full", action="store_true", help="print the whole report (reliability tables, curves, bounds)")
    p.set_defaults(func=cmd_calibrate, data="read")

    p = command(sub, "predictions", "predicted labels")
    psub = p.add_subparsers(dest="predictions_command", required=True, metavar="COMMAND")
    e = command(psub, "export", "every stored prediction, one JSON object per line")
    e.add_argument("--json", action="store_true", help="JSON lines (the only format, and the default)")
    e.add_argument("--type", default=None, help="only predictions of this type, e.g. brand (default: every type)")
    e.add_argument(
        "--min-precision",
        type=number(float, 0.0, 1.0),
        default=None,
        help="only those whose calibrated precision reaches this, in [0, 1] (default: no minimum)",
    )
    e.add_argument("--accepted", action="store_true", help="only those at or above their type's threshold")
    e.set_defaults(func=cmd_predictions_export, data="read")


def cmd_taxonomies_fetch(args: argparse.Namespace) -> int:
    from common.labels.taxonomy import OFF_BASE_URL, fetch_taxonomies

    c = container()
    dest = Path(args.dest) if args.dest else c.settings.home / "taxonomies"
    counts = fetch_taxonomies(c.taxonomy_source, dest, base_url=args.base_url or OFF_BASE_URL)
    print(json.dumps({"dest": str(dest), "ids": counts}))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Stdout: the report (JSON); stderr: progress, and per type its samples and what the target needs."""
    from common.labels.calibration import samples_needed
    from common.pipeline.calibrate import run_calibration
    from common.progress import Progress

    c = container()
    s = c.settings
    target = args.target_precision if args.target_precision is not None else s.target_precision
    if not 0.0 < target <= 1.0:
        raise CommandError(f"LOGO_ANN_TARGET_PRECISION must be in (0, 1], got {target}")
    total = c.notes.count_logos_with_neighbours() if not args.no_refresh else None  # what the re-vote goes through
    with Progress("calibrate: re-vote", total, unit="logos") as progress:
        report = run_calibration(c.propagation(), target, s.calibration_min_support, 20,
                                 refresh=not args.no_refresh, advance=progress.advance)  # fmt: skip
    fewest = samples_needed(target)  # None at target 1: no count of samples can show it
    needed = None if fewest is None else max(fewest, s.calibration_min_support)
    for line in type_lines(report, needed):
        print(line, file=sys.stderr)
    if not args.full:
        report = {k: v for k, v in report.items() if k not in ("reliability", "curves", "bounds")}
    print(json.dumps(report, indent=2))
    return 0


def type_lines(report: dict[str, Any], needed: int | None) -> list[str]:
    """One line per type: its leave-one-out samples, and its threshold or why it has none."""
    target = report["target_precision"]
    need = "can never be shown (lower the target)" if needed is None else f"needs at least {needed} right"
    if not report["thresholds"]:
        text = f"calibrate: no annotated logo predicted from annotated neighbours ({report['samples']} samples)"
        return [f"{text}: annotate more logos; a type {need} at or above its threshold for {target}"]
    lines = []
    for kind, found in report["thresholds"].items():
        head = f"calibrate: {kind}: {found.get('samples', 0)} samples"
        if found["threshold"] is None:
            lines.append(f"{head}, no threshold: precision {target} {need} at or above one")
        else:
            lines.append(f"{head}, threshold {found['threshold']:.3f} (precision >= {found['lower_bound']} "
                         f"over {found['support']})")  # fmt: skip
    summary = report["summary"]
    lines.append(f"calibrate: {report['samples']} samples, {summary['accepted']} accepted, "
                 f"{report['refreshed']} predictions refreshed")  # fmt: skip
    return lines


def cmd_predictions_export(args: argparse.Namespace) -> int:
    from common.api.label_details import prediction_row
    from common.labels.values import normalise_type

    c = container()
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
