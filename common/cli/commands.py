"""``logo-ann``: the command line of the embedded default (and an operator's tool in the cloud)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from common.cli.support import Formatter, check_home, command, container, home_text, number, os_error_line
from common.errors import CommandError, LogoAnnError

DESCRIPTION = (
    "Logo-ANN: find logos in product photos and search them by visual similarity. "
    "Data lives in $LOGO_ANN_HOME (default: .logo-ann in the current folder); "
    "`logo-ann COMMAND --help` describes each command."
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logo-ann", description=DESCRIPTION, formatter_class=Formatter)
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        help="logging level of the JSON log lines on stderr (default: INFO for serve, WARNING otherwise)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = command(sub, "ingest", "detect, embed and index image files or folders (again: skipped, nothing repeated)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders searched for images")
    p.add_argument("--json", action="store_true", help="print one JSON line per image on stdout")
    p.set_defaults(func=cmd_ingest, data="write")

    p = command(sub, "serve", "serve the search API, the upload endpoint and the inbox folder")
    p.add_argument("--port", type=number(int, 0, 65535), default=8080, help="TCP port (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--no-inbox", action="store_true", help="do not watch $LOGO_ANN_HOME/inbox")
    p.set_defaults(func=cmd_serve, data="write")

    p = command(sub, "search", "print a logo's nearest neighbours (the API's JSON); no id: a random logo")
    p.add_argument("logo_id", nargs="?", type=number(int, 1), metavar="LOGO_ID", help="the logo to search from")
    p.add_argument("--count", type=number(int, 1, 500), default=10, help="neighbours per logo")
    p.add_argument("--image", metavar="PHOTO", help="search with the logos detected in this image file")
    p.add_argument("--embedding-file", metavar="FILE", help="search with the vector in this JSON or .npy file")
    p.set_defaults(func=cmd_search, data="read")

    p = command(sub, "reindex", "rebuild the ANN index from the metadata store")
    p.add_argument("--neighbours", action="store_true", help="also recompute every stored neighbour list")
    p.set_defaults(func=cmd_reindex, data="read")

    p = command(sub, "reconcile", "compare the store with the ANN index and repair the index (prints JSON)")
    p.add_argument(
        "--requeue",
        action="store_true",
        help="also send again the work of images stuck in pending/detected (store side)",
    )
    p.add_argument(
        "--older-than",
        type=number(float, 0),
        default=600.0,
        metavar="SECONDS",
        help="with --requeue: only images untouched for this long",
    )
    p.set_defaults(func=cmd_reconcile, data="read")

    p = command(sub, "models", "get or build the model files")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    f = command(msub, "fetch", "download the production weights (pinned revisions, sha256-checked)")
    f.add_argument("--dest", default="models", help="folder to write the models into")
    f.add_argument("--base-url", default=None, help="mirror to download from (default: Hugging Face)")
    f.set_defaults(func=cmd_models_fetch)
    f = command(msub, "prepare", "build stand-in models where the real ones are absent")
    f.add_argument("--dest", default="models", help="folder of the models")
    f.set_defaults(func=cmd_models_prepare)

    p = command(sub, "samples", "generate product-like sample photos (true boxes in labels.json)")
    p.add_argument("--out", default="samples", help="folder to write them into")
    p.add_argument("--count", type=number(int, 1, 100_000), default=24, help="how many photos")
    p.add_argument("--seed", type=number(int, 0), default=0, help="random seed (the same seed, the same photos)")
    p.set_defaults(func=cmd_samples)

    from common.cli.imports import add_commands
    from common.cli.labels import add_commands as add_label_commands

    add_commands(sub)
    add_label_commands(sub)
    return parser


def _given_container() -> bool:
    """Whether the caller set the process's container (a program or a test bringing its own data)."""
    from common.bootstrap import set_container

    given = set_container(None)
    set_container(given)
    return given is not None


def cmd_ingest(args: argparse.Namespace) -> int:
    from common.cli.ingest import run_ingest

    return run_ingest(container(), args.paths, args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    from common.cli.serve import serve

    serve(container(), args.host, args.port, watch_inbox=not args.no_inbox, new_home=args.new_home)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from common.api import create_app

    if args.image:
        photo = Path(args.image).read_bytes()  # before anything is loaded: a wrong path fails at once
    vector = _load_vector(args.embedding_file) if args.embedding_file else None
    client = create_app(container()).test_client()
    if args.image:
        response = client.post(f"/api/v1/search/image?count={args.count}", data=photo)
    elif vector is not None:
        response = client.post("/api/v1/search/embedding", json={"embedding": vector, "count": args.count})
    elif args.logo_id is not None:
        response = client.get(f"/api/v1/ann/search/{args.logo_id}?count={args.count}")
    else:
        response = client.get(f"/api/v1/ann/search?count={args.count}")
    body = response.get_json()
    if response.status_code >= 400 and isinstance(body, dict) and "error" in body:
        raise CommandError(_with_data_folder(str(body["error"]), response.status_code), code=1)
    print(json.dumps(body, indent=2))
    return 0


def _with_data_folder(error: str, status: int) -> str:
    """A logo not found may be the wrong data folder (another folder's empty one): name the one read."""
    if status != 404:
        return error
    c = container()
    return f"{error}; {c.store.embedding_count()} logos with embeddings in {home_text(c.settings)}"


def _load_vector(path: str) -> list[float]:
    try:
        if path.endswith(".npy"):
            import numpy as np

            return [float(v) for v in np.load(path).ravel()]
        data = json.loads(Path(path).read_text())
        values = data["embedding"] if isinstance(data, dict) else data
        return [float(v) for v in values]
    except (ValueError, TypeError, KeyError) as exc:
        raise CommandError(
            f'{path}: not a vector ({exc}); give a JSON list of numbers, {{"embedding": [...]}}, or a .npy array'
        ) from exc


def cmd_reindex(args: argparse.Namespace) -> int:
    from common.pipeline.reconcile import reindex
    from common.progress import Progress

    c = container()
    index = c.fresh_index()
    total = c.store.embedding_count()
    with Progress("reindex", total, unit="vectors") as progress:
        sent = reindex(c.store, index, advance=progress.advance)
    print(f"reindex: {sent} vectors sent; the index holds {index.count()} logos", file=sys.stderr)
    if args.neighbours:
        from common.pipeline.neighbours import NeighbourLists

        lists = NeighbourLists(c.store, index, c.settings.neighbours_k, c.settings.neighbours_update_candidates)
        done = 0
        with Progress("neighbour lists", total, unit="logos") as progress:
            for ids, _ in c.store.iter_embeddings():
                done += lists.recompute(ids)
                progress.advance(len(ids))
        print(f"reindex: {done} neighbour lists recomputed", file=sys.stderr)
        voted = c.notes.count_logos_with_neighbours()
        with Progress("re-vote", voted, unit="logos") as progress:  # the predicted labels follow the new lists
            revoted = c.propagation().refresh_all(advance=progress.advance)
        print(f"reindex: {revoted} predicted labels re-voted", file=sys.stderr)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Print one JSON object: the index repairs, and with ``--requeue`` the store-side ones."""
    from common.pipeline.reconcile import reconcile, requeue

    c = container()
    body: dict[str, Any] = {}
    if args.requeue:
        body["requeue"] = requeue(c.detect_deps(), older_than_s=args.older_than, pipeline=c.pipeline()).as_dict()
    body.update(reconcile(c.store, c.fresh_index()).as_dict())
    print(json.dumps(body))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from offline.models.fetch import run_fetch

    return int(run_fetch(args))


def cmd_models_prepare(args: argparse.Namespace) -> int:
    """Stdout: ``{name: is_standin}`` as JSON; stderr: one line per model file, built or kept."""
    from offline.models.fetch import ensure_standins

    dest = Path(args.dest)
    before = {path.name for path in dest.glob("*.onnx")} if dest.is_dir() else set()
    standins = ensure_standins(dest)
    for path in sorted(dest.glob("*.onnx")):
        name = path.stem.split("-")[0]
        kind = "stand-in" if standins.get(name, True) else "real"
        what = "kept" if path.name in before else "built"
        print(f"models: {what} {path} ({kind} {name}, {path.stat().st_size:,} bytes)", file=sys.stderr)
    print(json.dumps(standins))
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from offline.samples import write_samples

    paths = write_samples(Path(args.out), args.count, seed=args.seed)
    print(f"{len(paths)} sample images in {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from common.observability import configure_logging

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option (2, argparse printed why)
        return exc.code if isinstance(exc.code, int) else 2
    level = args.log_level or ("INFO" if args.command == "serve" else "WARNING")
    configure_logging(level, stream=sys.stderr)
    try:
        new_home = None
        if getattr(args, "data", None) and not _given_container():
            new_home = check_home(container().settings, creates=args.data == "write")
        args.new_home = new_home  # serve announces it once listening (it does not return)
        try:
            return int(args.func(args))
        finally:
            from common.bootstrap import drain_container

            drain_container()  # the re-votes it deferred (embedded) are done before it returns
            if new_home and args.command != "serve" and container().settings.sqlite_path.exists():  # it made it
                print(f"logo-ann: {new_home}", file=sys.stderr)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {args.command} stopped; what it finished is kept, run it again to resume", file=sys.stderr
        )
        return 130
    except OSError as exc:
        if exc.filename is None:
            raise
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except LogoAnnError as exc:
        logging.getLogger("logo_ann").debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
