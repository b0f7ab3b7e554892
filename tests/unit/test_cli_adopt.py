"""``logo-ann import robotoff`` and ``logo-ann backfill`` as commands: their JSON reports on stdout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import common.bootstrap as bootstrap
from common.bootstrap import Container
from common.cli.commands import main
from common.settings import load_settings

LINE = {"id": 5, "index": 0, "bounding_box": [0.1, 0.1, 0.5, 0.5], "score": 0.7, "annotation_type": "brand",
        "annotation_value": "Lidl", "annotation_value_tag": "lidl", "taxonomy_value": None, "username": "bob",
        "source_image": "/123/456/789/0123/2.jpg", "barcode": "1234567890123"}  # fmt: skip


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    # no model files: a command that needs none must not build them
    c = Container(load_settings({}, home=tmp_path / "home", embedder_model=str(tmp_path / "absent.onnx")))
    previous = bootstrap.set_container(c)
    yield c
    bootstrap.set_container(previous)


def test_import_without_embeddings_reports_and_needs_no_model(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(LINE) + "\n")
    assert main(["import", "robotoff", "--jsonl", str(path), "--object-prefix", "data/"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["rows"], report["imported"], report["without_embedding"]) == (1, 1, 1)
    assert "import: 1/1 rows" in err
    (image,) = container.store.find_images(container.settings.bucket, "data/123/456/789/0123/2.jpg")
    assert [logo.id for logo in container.store.logos_of_image(image.id)] == [5]


def test_backfill_of_an_empty_bucket_reports_nothing_done(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill", "--bucket", "empty"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["processed"], report["skipped_as_done"], report["failed"]) == (0, 0, 0)
    buckets = container.settings.local_bucket_dir
    assert (
        f"backfill: no object in empty/: check --bucket and --prefix (local buckets are the folders in {buckets})"
        in err
    )


def test_backfill_refuses_a_bad_since(container: Container, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "--bucket", "b", "--since", "yesterday"]) == 2
    assert "--since 'yesterday'" in capsys.readouterr().err
