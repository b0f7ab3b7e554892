"""``logo-ann``: the command line of the embedded default (and an operator's tool in the cloud)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from common.errors import LogoAnnError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logo-ann", description=__doc__)
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="detect, embed and index image files or folders")
    p.add_argument("paths", nargs="+")
    p.add_argument("--json", action="store_true", help="print one JSON line per image")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("serve", help="serve the search API and upload endpoint on 127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--no-inbox", action="store_true", help="do not watch LOGO_ANN_HOME/inbox")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("search", help="print a logo's nearest neighbours (the API's JSON)")
    p.add_argument("logo_id", nargs="?", type=int)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--image", help="search with the logos detected in this image file")
    p.add_argument("--embedding-file", help="search with the vector in this JSON or .npy file")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("reindex", help="rebuild the ANN index from the metadata store")
    p.add_argument("--neighbours", action="store_true", help="also recompute every stored neighbour list")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("reconcile", help="compare the store with the ANN index and repair both")
    p.add_argument(
        "--requeue",
        action="store_true",
        help="also send again the work of images stuck in pending/detected (store side)",
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --requeue: only images untouched for this long (default 600)",
    )
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("models", help="prepare model files")
    msub = p.add_subparsers(dest="models_command", required=True)
    f = msub.add_parser("fetch", help="download the production weights (pinned, sha256-checked)")
    f.add_argument("--dest", default="models")
    f.add_argument("--base-url", default=None)
    f.set_defaults(func=cmd_models_fetch)
    s = msub.add_parser("prepare", help="build stand-in models where the real ones are absent")
    s.add_argument("--dest", default="models")
    s.set_defaults(func=cmd_models_prepare)

    p = sub.add_parser("samples", help="generate product-like sample photos")
    p.add_argument("--out", default="samples")
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_samples)

    from common.cli_adopt import add_commands
    from common.cli_labels import add_commands as add_label_commands

    add_commands(sub)
    add_label_commands(sub)
    return parser


def container() -> Any:
    from common.bootstrap import get_container

    return get_container()


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from common.ingest import FAILED, ingest_file, iter_files

    c = container()
    files = list(iter_files(args.paths))
    failed: list[dict[str, Any]] = []
    for path in tqdm(files, desc="ingest", unit="image", file=sys.stderr, disable=None):
        record = ingest_file(path, c)
        if record["status"] == FAILED:
            failed.append(record)
        if args.json:
            print(json.dumps(record), flush=True)
    if c.settings.pipeline != "platform":
        c.fresh_index().flush()
    print(f"{len(files)} images, {len(failed)} failed", file=sys.stderr)
    for record in failed:
        again = " (transient: ingest it again)" if record.get("retry") else ""
        print(f"failed: {record['path']}: {record['error']}{again}", file=sys.stderr)
    # non-zero when work is left that a new run can finish; a bad image is recorded, not retried
    return 1 if any(record.get("retry") for record in failed) else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from common.server import serve

    serve(container(), args.host, args.port, watch_inbox=not args.no_inbox)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from common.api import create_app

    client = create_app(container()).test_client()
    if args.image:
        response = client.post(f"/api/v1/search/image?count={args.count}", data=Path(args.image).read_bytes())
    elif args.embedding_file:
        response = client.post(
            "/api/v1/search/embedding", json={"embedding": _load_vector(args.embedding_file), "count": args.count}
        )
    elif args.logo_id is not None:
        response = client.get(f"/api/v1/ann/search/{args.logo_id}?count={args.count}")
    else:
        response = client.get(f"/api/v1/ann/search?count={args.count}")
    print(json.dumps(response.get_json(), indent=2))
    return 0 if response.status_code < 400 else 1


def _load_vector(path: str) -> list[float]:
    if path.endswith(".npy"):
        import numpy as np

        return [float(v) for v in np.load(path).ravel()]
    data = json.loads(Path(path).read_text())
    values = data["embedding"] if isinstance(data, dict) else data
    return [float(v) for v in values]


def cmd_reindex(args: argparse.Namespace) -> int:
    from common.pipeline.reconcile import reindex

    c = container()
    index = c.fresh_index()
    sent = reindex(c.store, index)
    print(f"index rebuilt: {sent} vectors sent, {index.count()} in the index", file=sys.stderr)
    if args.neighbours:
        from common.pipeline.neighbours import NeighbourLists

        lists = NeighbourLists(c.store, index, c.settings.neighbours_k, c.settings.neighbours_update_candidates)
        done = 0
        for ids, _ in c.store.iter_embeddings():
            done += lists.recompute(ids)
        print(f"neighbour lists recomputed: {done}", file=sys.stderr)
        revoted = c.propagation().refresh_all()  # the predicted labels follow the new lists
        print(f"predicted labels re-voted: {revoted}", file=sys.stderr)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Print one JSON object: the index repairs, and with ``--requeue`` the store-side ones."""
    from common.pipeline.reconcile import reconcile, requeue

    c = container()
    body: dict[str, Any] = {}
    if args.requeue:
        body["requeue"] = requeue(c.detect_deps(), older_than_s=args.older_than, detect=c.detect).as_dict()
    body.update(reconcile(c.store, c.fresh_index()).as_dict())
    print(json.dumps(body))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from common.models.fetch import run_fetch

    return int(run_fetch(args))


def cmd_models_prepare(args: argparse.Namespace) -> int:
    from common.models.fetch import ensure_standins

    print(json.dumps(ensure_standins(Path(args.dest)), default=str))
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from common.samples import write_samples

    paths = write_samples(Path(args.out), args.count, seed=args.seed)
    print(f"{len(paths)} sample images in {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from common.observability import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(args.log_level.upper(), stream=sys.stderr)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except LogoAnnError as exc:
        logging.getLogger("logo_ann").debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
