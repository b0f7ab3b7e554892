"""Simulated annotators: a person who knows each logo's true label and makes requests to the API.

One *action* is one request the person makes (opening a page, one annotation, one cluster
annotation); the requests a page makes by itself (Hunger Games' deep search asks ``/ann/search``
and ``/images/logos`` once per reference logo) are not actions. Three ways of working:

- ``one_at_a_time``: Hunger Games' deep search as it works today: a random unannotated logo
  (1 action), annotated (1), the value's deep search (1: up to 25 random references, their 50
  nearest each, unannotated ones merged by distance, 50 a page; "load more" 1 each), then each
  logo of the value annotated on its own (1 each); the search again while it finds some;
- ``value_clusters``: the same start, then ``GET /images/logos/value-cluster`` pages of 50 (1
  each), the right ones of a page annotated in one request (1), until a page holds none;
- ``quests``: ``GET /annotate/next`` (1: ten suggestions, each cluster with its members), then
  per suggested cluster one cluster annotation excluding the members that are not its majority
  label (1; a cluster changed meanwhile answers 404 and is passed over); per suggested group of
  logos predicted with one label below its threshold, the right ones confirmed in one
  annotation (1), and the others given their label, one annotation per value (1 each).

Every person annotates correctly: precision is lost only to accepted predictions.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.annotation_world import World

PAGE = 50
DEEP_REFERENCES = 25


class Person:
    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.actions = 0
        self.rng = random.Random(seed)

    def act(self, method: str, url: str, **kwargs: Any) -> Any:
        self.actions += 1
        return self.world.request(method, url, **kwargs)

    def random_start(self) -> int | None:
        found = self.act("GET", "/api/v1/images/logos/search?annotated=false&random=true&count=1").get_json()
        return found["logos"][0]["id"] if found["logos"] else None

    def annotate(self, logo_ids: list[int]) -> None:
        items = [{"logo_id": i, "type": self.world.truth[i][0], "value": self.world.truth[i][1]} for i in logo_ids]
        if items:
            self.act("POST", "/api/v1/images/logos/annotate", json={"annotations": items})


def _value_query(truth: tuple[str, str]) -> str:
    kind, value = truth
    return f"type={kind}&{'taxonomy_value' if kind == 'label' else 'value'}={value}"


def deep_search(person: Person, truth: tuple[str, str]) -> list[int]:
    """Hunger Games' deep search (one action): the page's own requests are not counted."""
    world = person.world
    person.actions += 1
    refs = world.request("GET", f"/api/v1/images/logos/search?{_value_query(truth)}&count=25&random=true")
    merged: dict[int, float] = {}
    for ref in refs.get_json()["logos"][:DEEP_REFERENCES]:
        found = world.request("GET", f"/api/v1/ann/search/{ref['id']}?count=50").get_json()["results"]
        ids = [r["logo_id"] for r in found]
        if not ids:
            continue
        details = world.request("GET", "/api/v1/images/logos?" + "&".join(f"logo_ids={i}" for i in ids)).get_json()
        free = {d["id"] for d in details["logos"] if d["annotation_type"] is None}
        for r in found:
            if r["logo_id"] in free:
                merged[r["logo_id"]] = min(merged.get(r["logo_id"], 2.0), r["distance"])
    return sorted(merged, key=lambda i: (merged[i], i))


def one_at_a_time(person: Person, done: Callable[[], bool]) -> None:
    while not done():
        start = person.random_start()
        if start is None:
            return
        person.annotate([start])
        truth = person.world.truth[start]
        while not done():
            ranked = deep_search(person, truth)
            right = 0
            for page_start in range(0, len(ranked), PAGE):
                if page_start:
                    person.actions += 1  # "load more"
                page = [i for i in ranked[page_start : page_start + PAGE] if person.world.truth[i] == truth]
                for logo_id in page:
                    person.annotate([logo_id])
                right += len(page)
                if not page or done():
                    break
            if not right:
                break


def value_clusters(person: Person, done: Callable[[], bool]) -> None:
    while not done():
        start = person.random_start()
        if start is None:
            return
        person.annotate([start])
        truth = person.world.truth[start]
        progressed = True
        while progressed and not done():  # page through; again from the top while a pass labels some
            progressed, cursor = False, None
            while not done():
                url = f"/api/v1/images/logos/value-cluster?{_value_query(truth)}&count={PAGE}"
                body = person.act("GET", url + (f"&cursor={cursor}" if cursor else "")).get_json()
                right = [x["id"] for x in body["logos"] if person.world.truth[x["id"]] == truth]
                if not right:
                    break
                person.annotate(right)
                progressed, cursor = True, body["next_cursor"]
                if cursor is None:
                    break


def quests(person: Person, done: Callable[[], bool]) -> None:
    while not done():
        suggestions = person.act("GET", "/api/v1/annotate/next?count=10").get_json()["logos"]
        if not suggestions:
            start = person.random_start()
            if start is None:
                return
            person.annotate([start])
            continue
        for s in suggestions:
            if done():
                return
            if s["reason"] != "cluster":  # a predicted label's group: confirm the right ones at once,
                by_truth: dict[tuple[str, str], list[int]] = {}  # and give the others theirs, a value at a time
                for i in s["logo_ids"]:
                    by_truth.setdefault(person.world.truth[i], []).append(i)
                for ids in by_truth.values():
                    person.annotate(ids)
                continue
            members = s["logo_ids"]  # the suggestion shows the cluster's crops
            (label, _), *_ = Counter(person.world.truth[i] for i in members).most_common(1)
            exclude = [i for i in members if person.world.truth[i] != label]
            body = {"type": label[0], "value": label[1], "exclude": exclude, "logo_ids": members}
            person.act("POST", f"/api/v1/clusters/{s['cluster_id']}/annotate", json=body)
