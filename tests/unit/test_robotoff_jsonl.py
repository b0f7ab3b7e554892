"""Import from Robotoff's ``export-logos`` JSONL (plain and gzipped) into the embedded store."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.adapters.robotoff_jsonl import RobotoffJsonl
from common.adapters.sql.imports import SqlImports
from common.adapters.sqlite_store import SqliteStore
from common.errors import ConfigError
from common.pipeline.imports import run_import
from stack import robotoff_db

pytestmark = robotoff_db.needs_v2_v3


def _export_line(logo_id: int, index: int, **extra: Any) -> dict[str, Any]:
    """The keys Robotoff's ``export-logos`` writes, in its order."""
    return {
        "id": logo_id,
        "index": index,
        "bounding_box": [0.1, 0.2, 0.5, 0.6],
        "score": 0.8,
        "annotation_type": "brand" if logo_id % 2 else None,
        "annotation_value": "Carrefour" if logo_id % 2 else None,
        "annotation_value_tag": "carrefour" if logo_id % 2 else None,
        "taxonomy_value": "en:carrefour" if logo_id % 2 else None,
        "username": "alice" if logo_id % 2 else None,
        "source_image": "/324/227/210/2359/4.jpg" if logo_id < 20 else "/12345678/2.jpg",
        "barcode": "3242272102359" if logo_id < 20 else "12345678",
        **extra,
    }


def _write(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["logos.jsonl", "logos.jsonl.gz"])
def test_export_logos_file_imports_under_the_same_ids(tmp_path: Path, name: str) -> None:
    vector = robotoff_db.unit_vector(7)
    lines = [
        json.dumps(_export_line(11, 0)),
        json.dumps(_export_line(12, 1)),
        "{not json",
        json.dumps(_export_line(25, 0, embedding=base64.b64encode(vector.tobytes()).decode(),
                                nearest_neighbors={"logo_ids": [11], "distances": [0.2], "updated_at": "2022"})),
        json.dumps(_export_line(26, 1, embedding=base64.b64encode(b"\x01" * 100).decode())),
        json.dumps({**_export_line(27, 2), "bounding_box": [0.5, 0.5, 0.2, 0.9]}),
    ]  # fmt: skip
    path = _write(tmp_path / name, lines)
    store = SqliteStore(tmp_path / "store.sqlite3", off_image_prefix="data/")
    imports = SqlImports(store.db)

    report = run_import(RobotoffJsonl(path), imports, "off", "data/", batch_size=2, stream=io.StringIO())

    assert report.rows == 6 and report.outcome.imported == 4 and report.outcome.embeddings == 1
    logos = {logo.id: logo for logo in store.get_logos([11, 12, 25, 26, 27])}
    assert sorted(logos) == [11, 12, 25, 26]
    assert logos[11].annotation_type == "brand" and logos[12].annotation_type is None
    assert logos[25].nearest_neighbors == {"logo_ids": [11], "distances": [0.2], "updated_at": "2022"}
    np.testing.assert_allclose(store.get_embeddings([25])[25], vector, atol=1e-6)
    reasons = dict(imports.failures(RobotoffJsonl(path).name))
    assert set(reasons) == {-3, 26, 27}  # the malformed line is reported by its line number
    assert reasons[-3].startswith("line 3:") and "100 bytes" in reasons[26] and "empty" in reasons[27]
    images = "SELECT name, barcode, off_image_id, source_image FROM image ORDER BY name"
    rows = store.db.run(lambda tx: tx.rows(images), write=False)
    assert rows == [
        ("data/12345678/2.jpg", "12345678", "2", "/12345678/2.jpg"),
        ("data/324/227/210/2359/4.jpg", "3242272102359", "4", "/324/227/210/2359/4.jpg"),
    ]
    fields = "SELECT annotation_value_tag, taxonomy_value, username FROM logo WHERE id = 11"
    tag = store.db.run(lambda tx: tx.one(fields), write=False)
    assert tag == ("carrefour", "en:carrefour", "alice")

    again = run_import(RobotoffJsonl(path), imports, "off", "data/", stream=io.StringIO())
    assert again.rows == 0 and again.resumed_after == 6
    store.close()


def test_a_changed_file_is_another_source(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", [json.dumps(_export_line(1, 0))])
    first = RobotoffJsonl(path).name
    _write(path, [json.dumps(_export_line(1, 0)), json.dumps(_export_line(2, 1))])
    assert RobotoffJsonl(path).name != first


def test_an_import_into_a_deployment_of_another_dimension_stops_before_writing(tmp_path: Path) -> None:
    vector = np.full(512, 512**-0.5, dtype="<f4")
    line = _export_line(25, 0, embedding=base64.b64encode(vector.tobytes()).decode())
    path = _write(tmp_path / "dims.jsonl", [json.dumps(line)])
    store = SqliteStore(tmp_path / "store.sqlite3", off_image_prefix="data/")
    imports = SqlImports(store.db)

    with pytest.raises(ConfigError) as refused:
        run_import(RobotoffJsonl(path), imports, "off", "data/", stream=io.StringIO(), dim=lambda: 384)

    assert "512" in str(refused.value) and "384" in str(refused.value)
    assert store.get_logos([25]) == []
    assert store.db.run(lambda tx: tx.one("SELECT count(*) FROM image"), write=False) == (0,)
    # the checkpoint was never opened: the same file imports whole once the sizes agree
    again = run_import(RobotoffJsonl(path), imports, "off", "data/", stream=io.StringIO(), dim=lambda: 512)
    assert again.resumed_after == 0 and again.outcome.embeddings == 1
    store.close()


def test_a_source_without_embeddings_never_asks_the_dimension(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.jsonl", [json.dumps(_export_line(11, 0))])
    store = SqliteStore(tmp_path / "store.sqlite3", off_image_prefix="data/")

    def no_model() -> int:
        raise AssertionError("the embedder was asked for its size")

    report = run_import(RobotoffJsonl(path), SqlImports(store.db), "off", "data/", stream=io.StringIO(), dim=no_model)
    assert report.outcome.imported == 1
    store.close()


class _StoppedAfterOneBatch(RobotoffJsonl):
    """Ctrl-C while the second batch is read."""

    def rows(self, after: int, batch_size: int) -> Iterator[Any]:
        batches = super().rows(after, batch_size)
        yield next(batches)
        raise KeyboardInterrupt


def test_an_interrupted_import_shows_the_rows_done_and_resumes(tmp_path: Path) -> None:
    path = _write(tmp_path / "logos.jsonl", [json.dumps(_export_line(i, 0)) for i in range(11, 17)])
    store = SqliteStore(tmp_path / "store.sqlite3", off_image_prefix="data/")
    imports = SqlImports(store.db)
    progress = io.StringIO()  # not a terminal: whole lines
    with pytest.raises(KeyboardInterrupt):
        run_import(_StoppedAfterOneBatch(path), imports, "off", "data/", batch_size=2, stream=progress)
    assert progress.getvalue().startswith("import: 2/6 rows, ")  # the partial count, not nothing

    report = run_import(RobotoffJsonl(path), imports, "off", "data/", batch_size=2, stream=io.StringIO())
    assert report.rows == 4 and report.outcome.imported == 4  # the two rows done are not read again
