"""``logo-ann ingest``: files and folders through the upload use case, with progress and a summary.

Exit codes: 0 when every image was processed (a bad image is recorded, not retried); 1 when a
file should be ingested again (a dependency was down) or no image could be processed; 2 when a
named path does not exist (nothing is ingested); 130 when interrupted (Ctrl-C): what was done is
kept, and the same command resumes, skipping the images already done.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from common.bootstrap import Container
from common.cli.support import home_text
from common.errors import CommandError
from common.pipeline.ingest import FAILED, IMAGE_SUFFIXES, ingest_file, iter_files
from common.progress import Progress

INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT


@dataclasses.dataclass
class Tally:
    images: int = 0
    logos: int = 0
    failed: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.images += 1
        self.logos += len(record["logos"])
        if record["status"] == FAILED:
            self.failed.append(record)


def image_files(paths: list[str]) -> list[Path]:
    """Every image file named or under a folder named; a path that does not exist stops it all."""
    missing = [raw for raw in paths if not Path(raw).exists()]
    if missing:
        raise CommandError(f"no such file or folder: {', '.join(missing)}; check the path (nothing was ingested)")
    files = list(iter_files(paths))
    if not files:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise CommandError(f"no image files in {', '.join(paths)} (looked for {kinds})", code=1)
    return files


def run_ingest(c: Container, paths: list[str], as_json: bool) -> int:
    files = image_files(paths)
    if c.settings.pipeline != "platform":  # a missing model fails here, before a data folder is made for nothing
        _ = c.detector  # loaded now rather than at the first image (the embedder may run elsewhere)
    tally = Tally()
    progress = Progress("ingest", len(files), unit="images")
    interrupted = False
    try:
        for path in files:
            record = ingest_file(path, c.intake(), c.store)
            tally.add(record)
            if as_json:
                print(json.dumps(record), flush=True)
            progress.advance(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
    indexed = None
    if c.settings.pipeline != "platform":
        index = c.fresh_index()
        index.flush()
        indexed = index.count()
    summarise(c, tally, len(files), indexed, interrupted)
    if interrupted:
        return INTERRUPTED
    retry = any(record.get("retry") for record in tally.failed)
    return 1 if retry or len(tally.failed) == tally.images else 0


def summarise(c: Container, tally: Tally, total: int, indexed: int | None, interrupted: bool) -> None:
    ok = tally.images - len(tally.failed)
    head = f"interrupted after {tally.images} of {total} images" if interrupted else f"{tally.images} images"
    line = f"ingest: {head}, {ok} processed, {tally.logos} logos found, {len(tally.failed)} failed"
    if indexed is not None:
        line += f"; the index holds {indexed} logos"
    print(f"{line}; data in {home_text(c.settings)}", file=sys.stderr)
    for record in tally.failed:
        again = " (transient: ingest it again)" if record.get("retry") else ""
        print(f"failed: {record['path']}: {record['error']}{again}", file=sys.stderr)
    if interrupted:
        print("run the same command again to resume: images already done are skipped", file=sys.stderr)
