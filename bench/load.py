"""Mixed traffic shaped like Hunger Games' against ``logo-ann serve`` at 100k logos, driven by
``wrk`` (Debian's package, ``bench/load.lua``): requests/s, p50, p99 and errors per route.

The home: n synthetic vectors (``bench.data``) in the embedded index at the default setting, built
as ``bench.ann`` builds it (ids 0..n-1), and a SQLite store whose logos 1..n-1 carry those
vectors, spread over ``photos`` stored 1-megapixel JPEG photos under Open Food Facts' layout
(``bench.crop.photo``), so each crop URL names a stored photo, read from the bucket and decoded
(then kept in the decoded-photo cache, which holds about 85 of them).

A Hunger Games screen asks for one neighbour list of 50, the details of those 50 logos, and their
crops. Three ``wrk`` processes run at once against one server, one per route, the connections
split as a screen's requests are: a quarter on ``GET /api/v1/ann/search/{id}?count=50``, a
quarter on ``GET /api/v1/images/logos?logo_ids=..`` (50 ids, repeated as the game sends them),
half on ``GET /api/v1/images/crop?image_url=..`` (a logo-sized box of a random photo). Each route
gets its own latency distribution; every request is counted, and any error (non-2xx, timeout,
socket error) is reported. ``python -m bench.load [--quick] [--connections 16,64] [--seconds 20]``;
``--before DIR`` runs another checkout side by side (``run``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench.ann import DEFAULT, DEFAULT_EF, build
from bench.crop import BUCKET, photo
from bench.data import generate
from common.adapters.local_image_store import LocalImageStore
from common.adapters.sqlite_store import SqliteStore
from common.domain import Box, Detection
from common.off_images import source_image_of
from stack.services import free_port

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
LUA = REPO / "bench" / "load.lua"
CACHE = Path.home() / ".cache" / "logo-ann" / "bench-load"  # the 100k home (365 MB), kept between runs
OFF = "https://images.openfoodfacts.org/images/products"
ROUTES = {"ann": 0.25, "logos": 0.25, "crop": 0.5}  # share of the connections
NEIGHBOURS = 50


def prepare_home(home: Path, n: int, photos: int) -> None:
    """The store, the bucket's photos and the index (see the module docstring); kept when ready."""
    marker = home / "load-home.json"
    wanted = {"n": n, "photos": photos, "setting": DEFAULT.label(), "ef": DEFAULT_EF}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    vectors = generate(n, 1).vectors
    store = SqliteStore(home / "logo-ann.sqlite3")
    images = LocalImageStore(home / "buckets")
    per_photo = -(-(n - 1) // photos)
    rng = random.Random(0)
    logo_ids: list[int] = []
    for i in range(photos):
        ref = images.put(BUCKET, source_image_of(f"{3_000_000_000_000 + i}", "1").lstrip("/"), photo(i), "image/jpeg")
        record, _ = store.upsert_image(ref, None, "image/jpeg")
        boxes = [Detection(_box(rng), 0.9, "logo") for _ in range(min(per_photo, n - 1 - len(logo_ids)))]
        logo_ids += [logo.id for logo in store.record_detections(record.id, 1152, 864, boxes, "bench")]
    if logo_ids != list(range(1, n)):
        raise RuntimeError("the store did not number the logos 1..n-1")
    for start in range(0, len(logo_ids), 10_000):
        part = logo_ids[start : start + 10_000]
        store.save_embeddings(part, vectors[part], "bench", "robotoff-v1")
    seq = store.last_change_seq()
    store.close()
    index, build_s = build(DEFAULT, vectors, home / "index", DEFAULT_EF)
    index.set_applied_seq(seq)
    index.flush()
    index.close()
    log.info("load home ready: %d logos on %d photos, index built in %.0f s", n - 1, photos, build_s)
    marker.write_text(json.dumps(wanted))


def _box(rng: random.Random) -> Box:
    y, x = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
    return Box(y, x, y + rng.uniform(0.05, 0.2), x + rng.uniform(0.05, 0.2))


def write_paths(folder: Path, n: int, photos: int, count: int = 20_000) -> dict[str, Path]:
    """A file of request paths per route (``count`` each, drawn with a fixed seed)."""
    rng = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "ann": [f"/api/v1/ann/search/{rng.randrange(1, n)}?count={NEIGHBOURS}" for _ in range(count)],
        "logos": [
            "/api/v1/images/logos?" + "&".join(f"logo_ids={rng.randrange(1, n)}" for _ in range(NEIGHBOURS))
            for _ in range(count // 10)
        ],
        "crop": [_crop_path(rng, photos) for _ in range(count)],
    }
    files = {}
    for route, lines in paths.items():
        files[route] = folder / f"{route}.paths"
        files[route].write_text("\n".join(lines) + "\n")
    return files


def _crop_path(rng: random.Random, photos: int) -> str:
    url = OFF + source_image_of(f"{3_000_000_000_000 + rng.randrange(photos)}", "1")
    box = _box(rng)
    return f"/api/v1/images/crop?image_url={urllib.parse.quote(url, safe='')}" + "".join(
        f"&{name}={value:.4f}" for name, value in zip(("y_min", "x_min", "y_max", "x_max"), box.as_list(), strict=True)
    )


def start_server(home: Path, port: int, threads: int | None, code: Path = REPO) -> subprocess.Popen[bytes]:
    """``logo-ann serve`` over ``home``, running the checkout at ``code`` (this one by default)."""
    env = dict(os.environ, LOGO_ANN_HOME=str(home))
    if code != REPO:
        env["PYTHONPATH"] = str(code)  # ``-m`` imports from the working directory first, this too
    if threads:
        env["LOGO_ANN_SERVER_THREADS"] = str(threads)
    argv = [
        sys.executable,
        "-m",
        "common.cli",
        "--log-level",
        "WARNING",
        "serve",
        "--port",
        str(port),
        "--no-inbox",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=code)
    deadline = time.monotonic() + 300
    while subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/api/v1/ann/search/1?count=1"],
                         check=False).returncode != 0:  # fmt: skip
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"logo-ann serve did not start (exit code {proc.poll()})")
        time.sleep(0.5)
    return proc


def mix(port: int, files: dict[str, Path], connections: int, seconds: float) -> dict[str, dict[str, Any]]:
    """The three routes at once from ``connections`` in all; each route's ``wrk`` figures."""
    procs = {}
    for route, share in ROUTES.items():
        argv = ["wrk", "-t1", f"-c{max(1, round(connections * share))}", f"-d{seconds:.0f}s", "--timeout", "10s",
                "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(files[route])]  # fmt: skip
        procs[route] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    figures = {}
    for route, proc in procs.items():
        out, err = proc.communicate(timeout=seconds + 120)
        line = next((x for x in out.splitlines() if x.startswith("{")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk on {route} failed: {err[-1000:]} {out[-1000:]}")
        figures[route] = {**json.loads(line), "connections": max(1, round(connections * ROUTES[route]))}
    return figures


def records_of(figures: dict[str, dict[str, Any]], connections: int, n: int, threads: int, **extra: Any) -> list[dict]:
    rows = []
    for route, f in figures.items():
        errors = sum(f[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
        rows.append(
            {
                "benchmark": "load",
                "n": n,
                "connections": connections,
                "route": route,
                "route_connections": f["connections"],
                "server_threads": threads,
                "requests": f["requests"],
                "requests_per_s": f["requests"] / (f["duration_us"] / 1e6),
                "p50_ms": f["p50_us"] / 1e3,
                "p90_ms": f["p90_us"] / 1e3,
                "p99_ms": f["p99_us"] / 1e3,
                "max_ms": f["max_us"] / 1e3,
                "errors": errors,
                "error_kinds": {
                    k: f[k]
                    for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
                    if f[k]
                },  # fmt: skip
                **extra,
            }
        )
    return rows


def run(
    workdir: Path, n: int = 100_000, photos: int = 200, levels: tuple[int, ...] = (16, 64), seconds: float = 20.0,
    threads: int | None = None, profile: Path | None = None, before: Path | None = None, rounds: int = 1,
) -> list[dict[str, Any]]:  # fmt: skip
    """Each connection level's records (one per route), measured against one server; with
    ``profile``, py-spy samples the server through the first level (collapsed stacks, every thread).

    With ``before`` (another checkout of the project, its packed-index library built or copied in),
    each of ``rounds`` runs every level against a server of that code, then against one of this
    code: the side-by-side comparison on a machine whose load drifts (records marked ``code``
    ``before``/``after`` and ``round``)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (make bench installs it)")
    home = workdir / f"load-home-{n}"
    prepare_home(home, n, photos)
    files = write_paths(workdir / "load-paths", n, photos)
    from common.settings import Settings

    used = threads or Settings.server_threads
    records: list[dict[str, Any]] = []
    for round_ in range(rounds):
        for label, code in (("before", before), ("after", REPO)) if before else (("", REPO),):
            extra = {"code": label, "round": round_} if label else {}
            port = free_port()
            proc = start_server(home, port, threads, code)
            try:
                mix(port, files, 8, 3)  # warm up: pages, the first photos decoded
                for connections in levels:
                    load_before = os.getloadavg()[0]
                    first = profile and connections == levels[0] and round_ == 0 and label != "before"
                    spy = _profiler(proc.pid, seconds, profile) if first else None
                    figures = mix(port, files, connections, seconds)
                    if spy is not None:
                        spy.wait(timeout=60)
                    records += records_of(figures, connections, n, used, seconds=seconds, photos=photos,
                                          load_average_1m=round(load_before, 2), **extra)  # fmt: skip
                    log.info("load at %d connections %s: %s", connections, label, figures)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    return records


def _profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    spy = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-d", f"{seconds - 1:.0f}",
           "-r", "200", "-f", "raw", "--threads", "--idle", "-o", str(out)]  # fmt: skip
    return subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k logos, 8 s a level (a check, not the figures)")
    parser.add_argument("--connections", default="16,64", help="comma-separated connection levels")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per level (default 20, quick 8)")
    parser.add_argument("--threads", type=int, default=None, help="server threads (default: the setting's)")
    parser.add_argument("--workdir", type=Path, default=CACHE, help="where the home is built and kept")
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks of the server at the first level")
    parser.add_argument("--before", type=Path, help="another checkout to run side by side with this one "
                        "(e.g. `git worktree add /tmp/before COMMIT`, its packed-index .so copied in): "
                        "bench/results/load_side_by_side.json")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=None, help="rounds of before/after (default 2 with --before)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    n, seconds = (10_000, 8.0) if args.quick else (100_000, 20.0)
    levels = tuple(int(c) for c in args.connections.split(","))
    before = args.before.resolve() if args.before else None
    records = run(args.workdir, n, levels=levels, seconds=args.seconds or seconds, threads=args.threads,
                  profile=args.profile, before=before, rounds=args.rounds or (2 if before else 1))  # fmt: skip
    for record in records:
        record["mode"] = "quick" if args.quick else "full"
    print(json.dumps(records, indent=1))
    if not args.quick:
        (RESULTS / ("load_side_by_side.json" if before else "load.json")).write_text(
            json.dumps(records, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
