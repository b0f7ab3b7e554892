"""Import from a Robotoff database built by the test from the documented facts (throwaway PostgreSQL).

Into SQLite + usearch and into PostgreSQL + a real Elasticsearch node: same ids, boxes, scores,
every annotation field, neighbours (null ones too), embeddings (wrong-sized ones refused with
their reason), deleted images kept out of search; a second run changes nothing; later logos get
ids above the imported range.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.adapters.robotoff_db import RobotoffDatabase
from common.adapters.sql.imports import SqlImports
from common.bootstrap import Container
from common.cli.imports import _index
from common.domain import Box, Detection, ObjectRef
from common.pipeline.imports import run_import
from common.settings import load_settings
from stack import robotoff_db
from stack.pg import scratch_database

pytestmark = [pytest.mark.integration, robotoff_db.needs_v2_v3]

TYPES = ["brand", "category", "label", "no_logo", "nutritional_label", "packager_code", "packaging", "qr_code", "store"]
VALUES = {
    "brand": "Carrefour Bio",
    "category": "en:Breakfast cereals",
    "label": "en:EU Organic",
    "store": "Lidl",
    "packager_code": "FR 29.232.003 EC",
}


@dataclasses.dataclass
class Scenario:
    url: str
    vectors: dict[int, np.ndarray]  # logos whose embedding must be imported
    wrong_size: int
    no_embedding: int
    deleted_logo: int
    bad_box: int
    annotated: dict[int, dict[str, Any]]
    with_neighbours: dict[int, dict[str, Any]]
    second_run_logo: int  # same image and index as another logo (a second detection run)
    all_logos: list[int]


def build(url: str) -> Scenario:
    robotoff_db.create_schema(url)
    fx = robotoff_db.RobotoffFixture(url)
    try:
        vectors: dict[int, np.ndarray] = {}
        annotated: dict[int, dict[str, Any]] = {}
        neighbours: dict[int, dict[str, Any]] = {}
        logos: list[int] = []
        image = fx.image("3242272102359", "4")
        prediction = fx.prediction(image, [{"label": "object", "score": 0.9}] * len(TYPES))
        for index, kind in enumerate(TYPES):
            value = VALUES.get(kind)
            fields = dict(
                annotation_type=kind,
                annotation_value=value,
                annotation_value_tag=None if value is None else value.lower().replace(" ", "-"),
                taxonomy_value=f"en:{kind}-{index}" if kind in ("brand", "label", "category") else None,
                username=f"user{index}",
                completed_at=_ts(index),
                text=f"text {index}",
                barcode="3242272102359",
                source_image="/324/227/210/2359/4.jpg",
                server_type="off",
            )
            logo = fx.logo(
                prediction, index, [0.1, 0.1 + index * 0.05, 0.5, 0.2 + index * 0.05], 0.9 - index / 100, **fields
            )
            annotated[logo] = {k: v for k, v in fields.items() if k not in ("barcode", "source_image", "server_type")}
            vectors[logo] = robotoff_db.unit_vector(logo) * 3.0  # not normalised at the source
            fx.embedding(logo, vectors[logo].astype("<f4").tobytes())
            logos.append(logo)
        other = fx.image("12345678", "2", width=640, height=480)
        pred = fx.prediction(other, [{"label": "object", "score": 0.7}] * 4)
        wrong = fx.logo(pred, 0, [0.0, 0.0, 0.4, 0.4], 0.7)
        fx.embedding(wrong, b"\x00" * 1024)
        none = fx.logo(pred, 1, [0.5, 0.5, 0.9, 0.9], 0.6)
        document = {"distances": [0.01, 0.2], "logo_ids": [logos[0], logos[1]], "updated_at": "2022-10-01T10:00:00"}
        near = fx.logo(pred, 2, [0.2, 0.2, 0.3, 0.3], 0.5, nearest_neighbors=document)
        neighbours[near] = document
        vectors[near] = robotoff_db.unit_vector(near)
        fx.embedding(near, vectors[near].astype("<f4").tobytes())
        bad = fx.logo(pred, 3, [0.6, 0.6, 0.6, 0.9], 0.5)  # empty box
        rerun = fx.logo(
            fx.prediction(other, [{"label": "object", "score": 0.8}], version="yolo-v8"),
            0,
            [0.1, 0.1, 0.2, 0.2],
            0.8,
            nearest_neighbors=None,
        )
        vectors[rerun] = robotoff_db.unit_vector(rerun)
        fx.embedding(rerun, vectors[rerun].astype("<f4").tobytes())
        gone = fx.image("4000000000001", "7", deleted=True)
        deleted = fx.logo(
            fx.prediction(gone, [{"label": "object", "score": 0.6}]),
            0,
            [0.1, 0.1, 0.9, 0.9],
            0.6,
            annotation_type="brand",
            annotation_value="Gone",
        )
        fx.embedding(deleted, robotoff_db.unit_vector(deleted).astype("<f4").tobytes())
        logos += [wrong, none, near, bad, rerun, deleted]
    finally:
        fx.close()
    return Scenario(url, vectors, wrong, none, deleted, bad, annotated, neighbours, rerun, logos)


def _ts(index: int) -> Any:
    import datetime as dt

    return dt.datetime(2022, 5, 1, 12, index, 0)


@pytest.fixture
def scenario() -> Iterator[Scenario]:
    with scratch_database("robotoff_src") as url:
        yield build(url)


def _container(home: Path, **overrides: Any) -> Container:
    return Container(load_settings({}, home=home, **overrides))


def _import(c: Container, url: str, **kwargs: Any) -> dict[str, Any]:
    report = run_import(
        RobotoffDatabase(url),
        SqlImports(c.store.db),
        "off-images",
        "data/",
        batch_size=4,
        stream=io.StringIO(),
        **kwargs,
    )
    body = report.as_dict()
    body["indexed"], _ = _index(c)
    return body


def _snapshot(c: Container) -> dict[str, Any]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return c.store.db.run(lambda tx: tx.rows(sql), write=False)

    return {
        "images": rows(
            "SELECT id, bucket, name, status, barcode, off_image_id, source_image, deleted, server_type,"
            " width, height FROM image ORDER BY id"
        ),
        "logos": rows(
            "SELECT id, image_id, box_index, y_min, x_min, y_max, x_max, score, annotation_type,"
            " annotation_value, annotation_value_tag, taxonomy_value, username, text FROM logo ORDER BY id"
        ),
        "embeddings": rows("SELECT logo_id, vector, dim, slot, crc FROM embedding ORDER BY logo_id"),
        "changes": rows("SELECT count(*) FROM embedding_change"),
    }


def _check_imported(c: Container, s: Scenario, body: dict[str, Any]) -> None:
    store = c.store
    imported = {logo.id: logo for logo in store.get_logos(s.all_logos)}
    assert set(imported) == set(s.all_logos) - {s.bad_box}  # same ids
    assert body["failed"] == 2 and {i for i, _ in SqlImports(store.db).failures(RobotoffDatabase(s.url).name)} == {
        s.wrong_size,
        s.bad_box,
    }
    reasons = dict(SqlImports(store.db).failures(RobotoffDatabase(s.url).name))
    assert "1024 bytes, expected 2048" in reasons[s.wrong_size] and "empty" in reasons[s.bad_box]
    stored = store.get_embeddings(s.all_logos)
    assert set(stored) == set(s.vectors)  # wrong-sized, missing and deleted-image embeddings left out
    for logo_id, vector in s.vectors.items():
        np.testing.assert_allclose(stored[logo_id], vector / np.linalg.norm(vector), atol=1e-6)
    first = imported[s.all_logos[0]]
    assert first.box == Box(0.1, 0.1, 0.5, 0.2) and first.score == pytest.approx(0.9)
    for logo_id, document in s.with_neighbours.items():
        assert imported[logo_id].nearest_neighbors == document
    assert imported[s.no_embedding].nearest_neighbors is None and not imported[s.no_embedding].has_embedding
    assert c.index.ids() == set(s.vectors)
    hit = c.index.search(stored[s.all_logos[0]], k=1)
    assert hit[0].logo_id == s.all_logos[0]


def _check_annotations(c: Container, s: Scenario) -> None:
    sql = (
        "SELECT id, annotation_type, annotation_value, annotation_value_tag, taxonomy_value, username, completed_at,"
        " text FROM logo WHERE annotation_type IS NOT NULL"
    )
    rows = {int(r[0]): r[1:] for r in c.store.db.run(lambda tx: tx.rows(sql), write=False)}
    assert {rows[i][0] for i in s.annotated} == set(TYPES)
    for logo_id, fields in s.annotated.items():
        kind, value, tag, taxonomy, user, completed, text = rows[logo_id]
        assert (kind, value, tag, taxonomy, user, text) == (
            fields["annotation_type"],
            fields["annotation_value"],
            fields["annotation_value_tag"],
            fields["taxonomy_value"],
            fields["username"],
            fields["text"],
        )
        assert str(completed).startswith(fields["completed_at"].strftime("%Y-%m-%d")) and "12:" in str(completed)


def _check_images(c: Container, s: Scenario) -> None:
    sql = "SELECT name, status, barcode, off_image_id, source_image, deleted, width, height FROM image ORDER BY name"
    rows = c.store.db.run(lambda tx: tx.rows(sql), write=False)
    by_name = {r[0]: r[1:] for r in rows}
    assert by_name["data/324/227/210/2359/4.jpg"][1:4] == ("3242272102359", "4", "/324/227/210/2359/4.jpg")
    assert by_name["data/12345678/2.jpg"][5:] == (640, 480)
    status, *_, deleted, _, _ = by_name["data/400/000/000/0001/7.jpg"]
    assert status == "deleted" and deleted == 1
    assert len(rows) == 3  # the second detection run of an image lands on the same image


def _check_later_ids(c: Container, s: Scenario) -> None:
    image, _ = c.store.upsert_image(ObjectRef("uploads", "new.jpg", "1"), 10, "image/jpeg")
    logos = c.store.record_detections(image.id, 10, 10, [Detection(Box(0.1, 0.1, 0.2, 0.2), 0.9, "object")], "v")
    assert logos[0].id > max(s.all_logos)
    assert image.id > 3


@pytest.mark.parametrize("target", ["sqlite+usearch", "postgres+elasticsearch"])
def test_import_keeps_ids_annotations_neighbours_and_embeddings(
    scenario: Scenario, tmp_path: Path, target: str, request: pytest.FixtureRequest
) -> None:
    es = None  # the node and a fresh alias, for the Elasticsearch target only
    if target.endswith("elasticsearch"):
        es = (request.getfixturevalue("es_node").url, request.getfixturevalue("es_alias"))
    with _target(tmp_path, target, es) as c:
        body = _import(c, scenario.url)
        assert body["rows"] == len(scenario.all_logos)
        assert body["imported"] == len(scenario.all_logos) - 1 and body["embeddings"] == len(scenario.vectors)
        assert body["out_of_search"] == 1 and body["indexed"] == len(scenario.vectors)
        _check_imported(c, scenario, body)
        _check_annotations(c, scenario)
        _check_images(c, scenario)
        before = _snapshot(c)
        again = _import(c, scenario.url)  # the finished checkpoint: nothing left to read
        assert again["rows"] == 0 and _snapshot(c) == before
        restarted = _import(c, scenario.url, restart=True)  # everything read again, nothing written
        assert restarted["rows"] == len(scenario.all_logos) and restarted["imported"] == 0
        assert restarted["present"] == len(scenario.all_logos) - 1 and _snapshot(c) == before
        _check_later_ids(c, scenario)
        if target.startswith("postgres"):  # planned from statistics of the tables it fills, not of empty ones
            analysed = ("SELECT count(*) FROM pg_stat_user_tables"
                        " WHERE relname IN ('image', 'logo') AND last_analyze IS NOT NULL")  # fmt: skip
            assert c.store.db.run(lambda tx: tx.one(analysed), write=False)[0] == 2  # type: ignore[attr-defined]


class _target:
    def __init__(self, tmp_path: Path, target: str, es: tuple[str, str] | None) -> None:
        self.tmp_path, self.target, self.es = tmp_path, target, es
        self._stack: list[Any] = []

    def __enter__(self) -> Container:
        if self.target == "sqlite+usearch":
            self.container = _container(self.tmp_path / "home")
            return self.container
        database = scratch_database("import_dst")
        url = database.__enter__()
        self._stack.append(database)
        assert self.es is not None
        es_url, alias = self.es
        self.container = _container(
            self.tmp_path / "home",
            store="postgres",
            database_url=url,
            index="elasticsearch",
            es_url=es_url,
            es_index=alias,
        )
        return self.container

    def __exit__(self, *exc: object) -> None:
        self.container.store.close()
        for item in reversed(self._stack):
            item.stop() if hasattr(item, "stop") else item.__exit__(None, None, None)


def test_not_a_robotoff_database_is_a_clear_error(tmp_path: Path) -> None:
    from common.errors import InvalidEventError

    with scratch_database("not_robotoff") as url:
        c = _container(tmp_path / "home")
        with pytest.raises(InvalidEventError, match="does not look like a Robotoff database"):
            run_import(RobotoffDatabase(url), SqlImports(c.store.db), "b", stream=io.StringIO())
        assert c.store.get_logos([1]) == []


def test_progress_line_has_rows_rate_and_eta(scenario: Scenario, tmp_path: Path) -> None:
    c = _container(tmp_path / "home")
    out = io.StringIO()
    run_import(RobotoffDatabase(scenario.url), SqlImports(c.store.db), "b", batch_size=2, stream=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith(f"import: {len(scenario.all_logos)}/{len(scenario.all_logos)} rows, ")
    assert last.endswith(" rows/s, 00:00 left")
    assert json.loads(json.dumps(SqlImports(c.store.db).checkpoint(RobotoffDatabase(scenario.url).name).__dict__))
