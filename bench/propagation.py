"""Label propagation: precision and coverage of predicted labels, calibrated vote against Robotoff's rule.

For each labelled set (``bench.propagation_data``) and share of annotated logos: every logo's 10
nearest neighbours are computed exactly (distance ``(1 - cos) / 2``, as stored); the annotated
logos calibrate the vote by leave-one-out (``common.labels.calibration``, target precision from
the settings); the other logos, whose true kind is known but hidden, are predicted:

- **calibrated**: the project's vote (cut-off, abstaining unannotated neighbours, prior weight)
  accepted at its type's calibrated threshold;
- **robotoff**: Robotoff's rule (``1/d`` weights, unannotated neighbours in the denominator, no
  cut-off) accepted at a share of 0.2.

``precision`` = right / accepted; ``coverage`` = accepted / held-out logos; ``bound`` = what the
calibration promises for the accepted predictions: each type's tail lower bound at its threshold,
weighted by the accepted predictions of that type (the observed precision should not fall below
it, bar about one time in 20); ``estimated`` = the mean precision the accepted predictions state
(each a tail bound from its own confidence up, so it can exceed the set's precision).
``python -m bench.propagation [--quick]`` writes ``bench/results/propagation.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from bench.propagation_data import kind_of, rendered, synthetic
from common.labels.calibration import accepted, calibrate, loo_samples, precision_for
from common.labels.vote import Key, VoteParams, robotoff_vote, vote
from common.settings import load_settings

log = logging.getLogger("bench.propagation")
RESULTS = Path(__file__).resolve().parent / "results"
K = 10
ROBOTOFF_SHARE = 0.2


def neighbours(vectors: np.ndarray, k: int = K) -> list[list[tuple[int, float]]]:
    """Exact k nearest neighbours of every row (itself excluded), ascending distance."""
    found: list[list[tuple[int, float]]] = []
    for start in range(0, len(vectors), 2048):
        block = (1.0 - vectors[start : start + 2048] @ vectors.T) / 2.0
        for row, distances in enumerate(block):
            distances[start + row] = np.inf
            top = np.argpartition(distances, k)[:k]
            top = top[np.argsort(distances[top], kind="stable")]
            found.append([(int(i), float(distances[i])) for i in top])
    return found


def evaluate(
    lists: list[list[tuple[int, float]]], kinds: list[int], share: float, params: VoteParams, target: float, seed: int
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    truth: dict[int, Key] = {i: kind_of(kind) for i, kind in enumerate(kinds)}
    annotated_ids = set(rng.choice(len(kinds), size=int(round(share * len(kinds))), replace=False).tolist())
    annotated = {i: truth[i] for i in sorted(annotated_ids)}
    held_out = [i for i in range(len(kinds)) if i not in annotated_ids]
    samples = loo_samples(annotated, {i: lists[i] for i in annotated}, params)
    report = calibrate(samples, params, target, min_support=10)
    ours = [(i, vote(lists[i], annotated, params)) for i in held_out]
    kept = [(i, v) for i, v in ours if v is not None and accepted(report, v.type, v.confidence)]
    right = sum((v.type, v.value) == truth[i] for i, v in kept)
    estimates = [precision_for(report, v.type, v.confidence) or 0.0 for _, v in kept]
    bounds = [report["thresholds"][v.type]["lower_bound"] for _, v in kept]
    theirs = [(i, robotoff_vote(lists[i], annotated)) for i in held_out]
    taken = [(i, r[0]) for i, r in theirs if r is not None and r[1] >= ROBOTOFF_SHARE]
    common = {"annotated_share": share, "annotated": len(annotated), "held_out": len(held_out)}
    thresholds = {t: v["threshold"] for t, v in report["thresholds"].items()}
    return [
        {
            **common,
            "method": f"calibrated (target {target})",
            "accepted": len(kept),
            "precision": round(right / len(kept), 4) if kept else None,
            "coverage": round(len(kept) / len(held_out), 4),
            "bound": round(float(np.mean(bounds)), 4) if bounds else None,
            "estimated": round(float(np.mean(estimates)), 4) if estimates else None,
            "thresholds": thresholds,
            "loo_precision": report["summary"]["precision"],
            "loo_coverage": report["summary"]["coverage"],
        },
        {
            **common,
            "method": f"robotoff (share >= {ROBOTOFF_SHARE}, no cut-off)",
            "accepted": len(taken),
            "precision": round(sum(key == truth[i] for i, key in taken) / len(taken), 4) if taken else None,
            "coverage": round(len(taken) / len(held_out), 4),
            "bound": None,
            "estimated": None,
        },
    ]


def profile(vectors: np.ndarray, kinds: list[int], lists: list[list[tuple[int, float]]]) -> dict[str, Any]:
    labels = np.asarray(kinds)
    nn1 = np.array([found[0][1] for found in lists])
    right = np.array([labels[found[0][0]] == labels[i] for i, found in enumerate(lists)])
    return {
        "n": len(kinds),
        "kinds": int(labels.max() + 1),
        "nn1_median": round(float(np.median(nn1)), 4),
        "nn1_same_kind": round(float(right.mean()), 4),
        "nn10_same_kind": round(
            float(np.mean([[labels[j] == labels[i] for j, _ in f] for i, f in enumerate(lists)])), 4
        ),
    }


def run(workdir: Path, quick: bool = False) -> list[dict[str, Any]]:
    s = load_settings({})
    params = VoteParams(s.vote_max_distance, s.vote_prior_weight)
    sets = {
        "rendered logos, stand-in embedder": lambda: rendered(16, 12 if quick else 25, workdir),
        "synthetic vectors (512-d, sibling kinds)": lambda: synthetic(40, 800 if quick else 4000),
    }
    records: list[dict[str, Any]] = []
    for name, build in sets.items():
        vectors, kinds = build()
        lists = neighbours(vectors)
        base = {"benchmark": "propagation", "dataset": name, "vote_max_distance": params.max_distance}
        records.append({**base, "benchmark": "propagation_data", **profile(vectors, kinds, lists)})
        for share in (0.2, 0.5):
            for seed in range(1 if quick else 3):
                for row in evaluate(lists, kinds, share, params, s.target_precision, seed):
                    records.append({**base, "seed": seed, **row})
        log.info("propagation: %s done", name)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workdir = RESULTS / "tmp-propagation"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        records = run(workdir, args.quick)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for record in records:
        record["mode"] = "quick" if args.quick else "full"
    (RESULTS / "propagation.json").write_text(json.dumps(records, indent=1) + "\n")
    for record in records:
        print(json.dumps(record))


if __name__ == "__main__":
    main()
