"""Annotation at scale: human actions to label 90 % of a set, three ways, and request times at 100k.

For each labelled set (the propagation benchmark's rendered logos and synthetic vectors, and a
larger synthetic set of 20,000), each way of working (``bench.annotation_people``) starts from a
fresh world (``bench.annotation_world``: nothing annotated) and runs until 90 % of the logos are
*labelled*: annotated, or predicted with a prediction the calibration accepts (precision bound
at least the target). An operator calibrates (``POST /api/v1/admin/calibrate``, not a person's
action) whenever the annotations have grown by a quarter. ``precision`` is measured against the
true labels over every labelled logo.

Then, on 100,000 synthetic logos with 100 references of one value: the time of each new route
(median and p90 of repeated requests through the WSGI app, SQLite store, default index).
``python -m bench.annotation [--quick]`` writes ``bench/results/annotation.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.annotation_people import Person, one_at_a_time, quests, value_clusters
from bench.annotation_world import World, build
from bench.propagation import neighbours
from bench.propagation_data import kind_of, rendered, synthetic
from common.labels.calibration import accepted
from common.labels.clusters import adjacency, components
from common.pipeline.value_cluster import NeighbourCache

log = logging.getLogger("bench.annotation")
RESULTS = Path(__file__).resolve().parent / "results"
GOAL = 0.9
CUTS = (0.03, 0.04, 0.05, 0.06, 0.08)
WAYS: dict[str, Callable[[Person, Callable[[], bool]], None]] = {
    "one at a time (deep search today)": one_at_a_time,
    "value clusters": value_clusters,
    "quests with next": quests,
}


def progress(world: World) -> dict[str, Any]:
    notes = world.container.notes
    report = world.container.propagation().report()
    truth = {i: (t, v) for i, (t, v) in world.truth.items()}
    annotated, right, after = 0, 0, 0
    while rows := notes.annotated_logos(after=after, count=20_000):
        annotated += len(rows)
        right += sum(a.key == truth[i] for i, a in rows)
        after = rows[-1][0]
    taken, taken_right, after = 0, 0, 0
    while page := notes.list_predictions(after=after, count=20_000):
        kept = [p for p in page if accepted(report, p.type, p.confidence)]
        taken += len(kept)
        taken_right += sum((p.type, p.value) == truth[p.logo_id] for p in kept)
        after = page[-1].logo_id
    labelled = annotated + taken
    return {
        "labelled": labelled,
        "fraction": labelled / len(world.ids),
        "annotated": annotated,
        "accepted_predictions": taken,
        "precision": round((right + taken_right) / labelled, 4) if labelled else None,
        "prediction_precision": round(taken_right / taken, 4) if taken else None,
    }


def simulate(world: World, way: str, seed: int) -> dict[str, Any]:
    person = Person(world, seed)
    state = {"checked": 0, "calibrated_at": 0, "calibrations": 0, "last": progress(world)}

    def done() -> bool:
        if person.actions < state["checked"] + max(1, person.actions // 50):
            return False
        state["checked"] = person.actions
        now = progress(world)
        if now["annotated"] >= max(20, 1.25 * state["calibrated_at"]):
            world.request("POST", "/api/v1/admin/calibrate")
            state["calibrated_at"], state["calibrations"] = now["annotated"], state["calibrations"] + 1
            now = progress(world)
        state["last"] = now
        return bool(now["fraction"] >= GOAL)

    started = time.perf_counter()
    WAYS[way](person, done)
    done()
    final = state["last"]
    return {
        "way": way,
        "actions": person.actions,
        "reached": final["fraction"] >= GOAL,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in final.items()},
        "calibrations": state["calibrations"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def compare(
    name: str, make: Callable[[], tuple[np.ndarray, list[int]]], workdir: Path, seed: int
) -> list[dict[str, Any]]:
    vectors, kinds = make()
    rows = []
    for way in WAYS:
        home = workdir / f"{name[:8]}-{len(rows)}"
        world = build(vectors, kinds, home)
        try:
            row = simulate(world, way, seed)
        finally:
            world.close()
            shutil.rmtree(home, ignore_errors=True)
        rows.append(
            {"benchmark": "annotation", "dataset": name, "n": len(kinds), "build_s": round(world.build_s, 1), **row}
        )
        log.info("annotation: %s / %s: %s actions", name, way, row["actions"])
    base = rows[0]["actions"]
    for row in rows:
        row["fewer_actions_than_one_at_a_time"] = round(base / row["actions"], 2) if row["actions"] else None
    return rows


def timed(world: World, method: str, url: str, repeat: int, **kwargs: Any) -> dict[str, Any]:
    times, status = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        status = world.request(method, url, **kwargs).status_code
        times.append((time.perf_counter() - start) * 1000)
    values = np.asarray(times)
    return {
        "route": f"{method} {url.split('?')[0]}",
        "status": status,
        "ms_p50": round(float(np.percentile(values, 50)), 2),
        "ms_p90": round(float(np.percentile(values, 90)), 2),
        "requests": repeat,
    }


def request_times(n: int, references: int, workdir: Path, repeat: int) -> list[dict[str, Any]]:
    vectors, kinds = synthetic(400, n, seed=3)
    home = workdir / "times"
    world = build(vectors, kinds, home)
    try:
        biggest = int(np.bincount(kinds).argmax())
        rows = [world.ids[i] for i, k in enumerate(kinds) if k == biggest][:references]
        kind, value = kind_of(biggest)
        items = [{"logo_id": i, "type": kind, "value": value} for i in rows]
        world.request("POST", "/api/v1/images/logos/annotate", json={"annotations": items})
        query = f"type={kind}&{'taxonomy_value' if kind == 'label' else 'value'}={value}&count=50"
        first_build = time.perf_counter()
        world.request("GET", "/api/v1/clusters?count=1")
        build_s = time.perf_counter() - first_build
        cluster = world.request("GET", "/api/v1/clusters?count=1").get_json()["clusters"][0]
        url = f"/api/v1/images/logos/value-cluster?{query}"
        app = world.client.application  # an ApiApp (common.api.context)
        before = [round(x, 2) for x in os.getloadavg()]  # 2 shared cores: the figures scale with it
        cold = []
        for _ in range(max(3, repeat // 3)):  # each time with no reference's neighbours kept
            app.neighbours = NeighbourCache()
            cold.append(timed(world, "GET", url, 1)["ms_p50"])
        out = [timed(world, "GET", url, repeat) | {"cache": "warm (the references' neighbours kept)"}]
        out.append(
            out[0]
            | {
                "cache": "cold (every reference searched)",
                "ms_p50": round(float(np.median(cold)), 2),
                "ms_p90": round(float(np.percentile(cold, 90)), 2),
                "requests": len(cold),
            }
        )
        out += [timed(world, "GET", "/api/v1/clusters?count=50", repeat)]
        out += [timed(world, "GET", "/api/v1/annotate/next?count=10", repeat)]
        out += [timed(world, "GET", f"/api/v1/values?type={kind}", repeat)]
        out += [timed(world, "GET", "/api/v1/images/logos/suspects?count=50", max(2, repeat // 10))]
        out += [timed(world, "GET", f"/api/v1/images/logos/{rows[0]}/history", repeat)]
        body = {"type": kind, "value": value, "exclude": []}
        started = time.perf_counter()
        annotated = world.request("POST", f"/api/v1/clusters/{cluster['id']}/annotate", json=body)
        took = round((time.perf_counter() - started) * 1000, 2)
        route = "POST /api/v1/clusters/<id>/annotate"  # the mass write the revert then undoes
        out.append({"route": route, "status": annotated.status_code, "ms_p50": took, "ms_p90": took, "requests": 1})
        op = annotated.get_json()["operation_id"]
        out += [timed(world, "POST", f"/api/v1/annotations/operations/{op}/revert", 1)]
        after = [round(x, 2) for x in os.getloadavg()]
        for row in out:
            row.update(
                benchmark="annotation_requests",
                n=n,
                references=references,
                cluster_size=cluster["size"],
                load_avg_before=before,
                load_avg_after=after,
            )
        out.append(
            {"benchmark": "annotation_requests", "route": "first cluster build", "n": n, "seconds": round(build_s, 2)}
        )
        return out
    finally:
        world.close()
        shutil.rmtree(home, ignore_errors=True)


def cluster_profile(name: str, vectors: np.ndarray, kinds: list[int]) -> list[dict[str, Any]]:
    """Per cut-off: the share of logos in a cluster (nothing annotated) and the share of cluster
    members in their cluster's majority label, over exact 10-nearest-neighbour lists."""
    lists = dict(enumerate(neighbours(vectors)))
    rows = []
    for cut in CUTS:
        found = components(adjacency(lists, set(lists), cut))
        members = sum(len(c) for c in found)
        pure = sum(Counter(kinds[i] for i in c).most_common(1)[0][1] for c in found)
        rows.append(
            {
                "benchmark": "annotation_clusters",
                "dataset": name,
                "n": len(kinds),
                "cluster_max_distance": cut,
                "clusters": len(found),
                "coverage": round(members / len(kinds), 4),
                "purity": round(pure / members, 4) if members else None,
                "largest": len(found[0]) if found else 0,
            }
        )
    return rows


def data_sets(workdir: Path, quick: bool) -> dict[str, Callable[[], tuple[np.ndarray, list[int]]]]:
    return {
        "rendered logos, stand-in embedder": lambda: rendered(16, 12 if quick else 25, workdir),
        "synthetic vectors (512-d, sibling kinds)": lambda: synthetic(40, 800 if quick else 4000),
        "synthetic vectors, large": lambda: synthetic(100 if quick else 400, 5000 if quick else 20_000, seed=2),
    }


def run(workdir: Path, quick: bool = False) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for name, make in data_sets(workdir, quick).items():
        records += compare(name, make, workdir, seed=1)
        records += cluster_profile(name, *make())
    records += request_times(20_000 if quick else 100_000, 100, workdir, 5 if quick else 30)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only-times", action="store_true", help="only the request times at 100k, into the record")
    parser.add_argument(
        "--only-clusters", action="store_true", help="only the clusters per cut-off (added to the record)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    partial = args.only_clusters or args.only_times
    workdir = RESULTS / ("tmp-annotation-part" if partial else "tmp-annotation")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.only_clusters:
            records = merged(
                "annotation_clusters",
                [r for n, make in data_sets(workdir, args.quick).items() for r in cluster_profile(n, *make())],
            )
        elif args.only_times:
            times = request_times(20_000 if args.quick else 100_000, 100, workdir, 5 if args.quick else 30)
            records = merged("annotation_requests", times)
        else:
            records = run(workdir, args.quick)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for record in records:
        record.setdefault("mode", "quick" if args.quick else "full")
        print(json.dumps(record))
    (RESULTS / "annotation.json").write_text(json.dumps(records, indent=1) + "\n")


def merged(benchmark: str, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored record with its ``benchmark`` rows replaced by ``fresh`` (a partial run)."""
    path = RESULTS / "annotation.json"
    kept = json.loads(path.read_text()) if path.exists() else []
    return [r for r in kept if r.get("benchmark") != benchmark] + fresh


if __name__ == "__main__":
    main()
