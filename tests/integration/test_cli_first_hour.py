"""A newcomer's first hour, through the real ``logo-ann`` processes on stand-in models: progress
and a summary on stderr, exit codes, Ctrl-C and resume, the server's start line and its one INFO
line per processed upload or inbox file, ``calibrate``'s per-type explanation and what
``models prepare`` built."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common.api.local_identity import local_user_name
from stack.waiting import wait_until
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "common.cli"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Models and 40 sample photos, built once; each test gets its own data folder."""
    root = tmp_path_factory.mktemp("first-hour")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOGO_ANN_")}
    environ.update(
        LOGO_ANN_DETECTOR_MODEL=str(root / "models" / "detector.onnx"),
        LOGO_ANN_EMBEDDER_MODEL=str(root / "models" / "embedder.onnx"),
        ROOT=str(root),
    )
    for command in (["models", "prepare", "--dest", str(root / "models")],
                    ["samples", "--out", str(root / "photos"), "--count", "40", "--seed", "3"]):  # fmt: skip
        subprocess.run([*CLI, *command], env=environ, check=True, capture_output=True, timeout=120)
    return environ


def run(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def with_home(world: dict[str, str], home: Path) -> dict[str, str]:
    return {**world, "LOGO_ANN_HOME": str(home)}


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_ingest_shows_progress_and_a_summary_with_the_logo_count(world: dict[str, str], tmp_path: Path) -> None:
    env = with_home(world, tmp_path / "home")
    photos = Path(world["ROOT"]) / "photos"
    done = run(env, "ingest", "--json", str(photos))
    assert done.returncode == 0, done.stderr
    found = records(done.stdout)
    logos = sum(len(r["logos"]) for r in found)
    assert len(found) == 40 and logos > 0
    progress = [line for line in done.stderr.splitlines() if line.startswith("ingest: 40/40 images, ")]
    assert progress and re.fullmatch(r"ingest: 40/40 images, [\d.]+ images/s, 00:00 left", progress[-1])
    home = tmp_path / "home"
    summary = f"ingest: 40 images, 40 processed, {logos} logos found, 0 failed; the index holds {logos} logos"
    assert f"{summary}; data in {home} (LOGO_ANN_HOME)" in done.stderr
    assert f"logo-ann: new data folder {home}" in done.stderr  # announced the first time only
    again = run(env, "ingest", str(photos / "product-0000.jpg"))
    assert again.returncode == 0 and "new data folder" not in again.stderr

    reindexed = run(env, "reindex")
    assert reindexed.returncode == 0
    assert f"reindex: {logos}/{logos} vectors, " in reindexed.stderr
    assert f"reindex: {logos} vectors sent; the index holds {logos} logos" in reindexed.stderr
    relisted = run(env, "reindex", "--neighbours")
    assert relisted.returncode == 0, relisted.stderr
    assert f"neighbour lists: {logos}/{logos} logos, " in relisted.stderr
    assert re.search(rf"^re-vote: {logos}/{logos} logos, [\d.]+ logos/s, 00:00 left$", relisted.stderr, re.M)

    backfill = run(env, "backfill", "--bucket", "uploads")  # every object is already done
    assert backfill.returncode == 0, backfill.stderr
    assert "backfill: 40 listed, 0 processed, 40 skipped as done in " in backfill.stderr
    assert re.search(r"^backfill: 40 objects, [\d.]+ objects/s, 00:0\d elapsed$", backfill.stderr, re.MULTILINE)
    assert json.loads(backfill.stdout)["skipped_as_done"] == 40


def test_nothing_processed_is_a_failure(world: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("a.jpg", "b.png"):
        (broken / name).write_bytes(b"not an image at all")
    done = run(with_home(world, tmp_path / "home"), "ingest", str(broken))
    assert done.returncode == 1
    assert "ingest: 2 images, 0 processed, 0 logos found, 2 failed" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_during_ingest_summarises_and_the_same_command_resumes(world: dict[str, str], tmp_path: Path) -> None:
    env = with_home(world, tmp_path / "home")
    command = [*CLI, "ingest", "--json", str(Path(world["ROOT"]) / "photos")]
    # Ctrl-C as a terminal delivers it: a shell runs a background job with SIGINT ignored, and the command
    # would inherit that when the tests themselves run in the background
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    first = [json.loads(proc.stdout.readline()) for _ in range(2)]  # two images done: interrupt the third
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    done_before = len(first) + len(out.splitlines())
    assert re.search(rf"ingest: interrupted after {done_before} of 40 images, ", err), err
    assert "run the same command again to resume: images already done are skipped" in err
    assert done_before < 40

    again = run(env, "ingest", "--json", str(Path(world["ROOT"]) / "photos"))
    assert again.returncode == 0, again.stderr
    found = records(again.stdout)
    assert len({r["image_id"] for r in found}) == 40 and all(r["status"] == "indexed" for r in found)
    assert {r["image_id"] for r in first} <= {r["image_id"] for r in found}  # the same images, not new ones
    logos = sum(len(r["logos"]) for r in found)
    assert f"the index holds {logos} logos" in again.stderr


def test_read_commands_from_another_folder_name_the_data_folder(world: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in world.items() if k != "LOGO_ANN_HOME"}
    assert run(env, "ingest", str(Path(world["ROOT"]) / "photos" / "product-0001.jpg"), cwd=project).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    lost = run(env, "search", "1", cwd=other)
    assert lost.returncode == 2
    assert f"error: no data in {other / '.logo-ann'}" in lost.stderr and "set LOGO_ANN_HOME" in lost.stderr
    assert "does not exist" not in lost.stderr and not (other / ".logo-ann").exists()
    found = run({**env, "LOGO_ANN_HOME": str(project / ".logo-ann")}, "search", "1", "--count", "1", cwd=other)
    assert found.returncode == 0 and json.loads(found.stdout)["query_logo_id"] == 1


def test_a_missing_or_unreadable_file_is_one_line(world: dict[str, str], tmp_path: Path) -> None:
    env = with_home(world, tmp_path / "home")
    assert run(env, "ingest", str(Path(world["ROOT"]) / "photos" / "product-0002.jpg")).returncode == 0
    missing = run(env, "search", "--image", str(tmp_path / "nope.jpg"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert (
        missing.stderr.strip()
        == f"error: cannot read {tmp_path / 'nope.jpg'}: No such file or directory; check the path"
    )
    folder = run(env, "search", "--embedding-file", str(tmp_path))
    assert folder.returncode == 2 and "Traceback" not in folder.stderr
    assert folder.stderr.strip().startswith(f"error: cannot read {tmp_path}: Is a directory; name a file")
    garbage = tmp_path / "vector.json"
    garbage.write_text("{not json")
    bad = run(env, "search", "--embedding-file", str(garbage))
    assert bad.returncode == 2 and bad.stderr.startswith(f"error: {garbage}: not a vector")


def test_models_prepare_names_what_it_built(world: dict[str, str], tmp_path: Path) -> None:
    first = run(world, "models", "prepare", "--dest", str(tmp_path / "m"))
    assert first.returncode == 0
    for name in ("detector", "embedder", "embedder-u8"):
        path = tmp_path / "m" / f"{name}.onnx"
        size = path.stat().st_size
        kind = name.split("-")[0]
        assert f"models: built {path} (stand-in {kind}, {size:,} bytes)" in first.stderr
    second = run(world, "models", "prepare", "--dest", str(tmp_path / "m"))
    assert "models: built" not in second.stderr and f"models: kept {tmp_path / 'm' / 'detector.onnx'}" in second.stderr


@pytest.fixture
def server(world: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path, Path]]:
    home = tmp_path / "home"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as errors:
        proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=with_home(world, home),
                                stdout=subprocess.PIPE, stderr=errors, text=True)  # fmt: skip
    yield f"http://127.0.0.1:{port}", proc, home, log
    proc.terminate()
    proc.communicate(timeout=30)  # waits, and closes the pipe


def test_the_server_says_where_its_data_is_and_logs_each_processed_file(
    server: tuple[str, subprocess.Popen[str], Path, Path], world: dict[str, str]
) -> None:
    url, proc, home, log = server
    assert proc.stdout is not None
    start = proc.stdout.readline().strip()
    assert start.startswith(f"Logo-ANN serving on {url}/ ")
    assert f"data in {home} (LOGO_ANN_HOME)" in start
    assert "writes only from this machine (set LOGO_ANN_API_TOKEN to allow others)" in start
    assert (
        f"logo-ann: new data folder {home} (LOGO_ANN_HOME={home}; set LOGO_ANN_HOME to use another)" in log.read_text()
    )
    photos = Path(world["ROOT"]) / "photos"
    with (photos / "product-0003.jpg").open("rb") as photo:
        assert requests.post(f"{url}/api/v1/images", files={"file": photo}, timeout=60).status_code == 201
    (home / "inbox" / "dropped.jpg").write_bytes((photos / "product-0004.jpg").read_bytes())
    wait_until((home / "inbox" / "done" / "dropped.jpg").exists, 60, interval=0.2, message=log.read_text)
    for _ in range(5):
        requests.get(f"{url}/api/v1/ann/search?count=3", timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    processed = [line["message"] for line in lines if line["message"].startswith("processed ")]
    assert len(processed) == 2, processed
    assert processed[0].startswith("processed product-0003.jpg: image ") and processed[1].startswith(
        "processed dropped"
    )
    assert all(line["severity"] == "INFO" for line in lines if line["message"].startswith("processed "))
    assert [line for line in lines if line["severity"] == "WARNING"] == []


def test_the_start_line_says_writes_need_the_token_when_one_is_set(world: dict[str, str], tmp_path: Path) -> None:
    env = {**with_home(world, tmp_path / "home"), "LOGO_ANN_API_TOKEN": "s3cret"}
    proc = subprocess.Popen([*CLI, "serve", "--port", str(free_port()), "--no-inbox"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        start = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert "writes need Authorization: Bearer $LOGO_ANN_API_TOKEN" in start and "s3cret" not in start


def test_make_runs_sample_photos_give_a_quest_labelled_and_undone_with_no_set_up(
    world: dict[str, str], tmp_path: Path
) -> None:
    """What ``make run`` does (24 sample photos, the default seed, ``ingest``, then ``serve`` on
    loopback with no token): the page's first quest is there, and labelling it, as the page does,
    needs no sign-in (recorded as the local user), nor does undoing it."""
    env = with_home(world, tmp_path / "home")
    assert run(env, "samples", "--out", str(tmp_path / "samples"), "--count", "24").returncode == 0
    assert run(env, "ingest", str(tmp_path / "samples")).returncode == 0
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--no-inbox"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        start = proc.stdout.readline()  # written once the socket listens
        me = local_user_name()
        assert f"the page annotates as {me}" in start
        api = f"http://127.0.0.1:{port}/api/v1"
        quest = requests.get(f"{api}/clusters?annotated=false&count=1", timeout=30).json()["clusters"][0]
        members = quest["logo_ids"]
        assert len(members) >= 3
        body = {"type": "brand", "value": "Acme", "exclude": members[:1], "logo_ids": members}
        labelled = requests.post(f"{api}/clusters/{quest['id']}/annotate", json=body, timeout=60)
        assert labelled.status_code == 200, labelled.text
        assert labelled.json()["annotated"] == len(members) - 1
        query = "&".join(f"logo_ids={i}" for i in members)
        now = {x["id"]: x["username"] for x in requests.get(f"{api}/images/logos?{query}", timeout=30).json()["logos"]}
        assert now == {i: None if i == members[0] else me for i in members}
        operation = labelled.headers["Operation-Id"]
        undone = requests.post(f"{api}/annotations/operations/{operation}/revert", timeout=60)
        assert undone.status_code == 200, undone.text
        assert sorted(undone.json()["restored"]) == sorted(members[1:])
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_calibrate_says_per_type_what_it_had_and_what_the_target_needs(world: dict[str, str], tmp_path: Path) -> None:
    from common.adapters.sqlite_store import SqliteStore
    from tests.api_support import api_container, ingest

    home = tmp_path / "home"
    home.mkdir()
    store = SqliteStore(home / "logo-ann.sqlite3")
    c = api_container(tmp_path, store=store)
    red, blue, green = (230, 20, 20), (20, 20, 230), (20, 200, 20)
    ingest(c, [(red, blue), (red, green), (red, blue), (green, blue)])  # red 1 3 5, green 4 7, blue 2 6 8
    c.annotator().annotate([(1, "brand", "Coca Cola"), (3, "brand", "Coca Cola"), (4, "brand", "Sprite")], "alice")
    store.close()

    done = run(with_home(world, home), "calibrate", "--target-precision", "0.9")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    revoted = report["refreshed"]  # of the logos with neighbours, out of how many there are: time left
    assert re.search(rf"^calibrate: re-vote: {revoted}/{revoted} logos, [\d.]+ logos/s, 00:00 left$", done.stderr, re.M)
    # n right of n show 0.9 once n / (n + 1.645^2) >= 0.9: n >= 24.4, so 25 samples
    brand = re.search(
        r"calibrate: brand: (\d+) samples, no threshold: precision 0.9 needs at least 25 right", done.stderr
    )
    assert brand is not None, done.stderr
    assert int(brand.group(1)) == report["predicted"] > 0  # every prediction here is a brand
    assert (
        f"calibrate: {report['samples']} samples, 0 accepted, {report['refreshed']} predictions refreshed"
        in done.stderr
    )


def test_import_shows_progress_and_a_summary_with_the_logo_count(world: dict[str, str], tmp_path: Path) -> None:
    import base64

    import numpy as np

    rows = []
    for i, vector in enumerate(np.random.default_rng(5).normal(size=(3, 512)).astype("<f4"), start=11):
        rows.append({"id": i, "index": 0, "bounding_box": [0.1, 0.1, 0.5, 0.5], "score": 0.7,
                     "annotation_type": None, "annotation_value": None, "annotation_value_tag": None,
                     "taxonomy_value": None, "username": None, "source_image": f"/123/456/789/0123/{i}.jpg",
                     "barcode": "1234567890123", "embedding": base64.b64encode(vector.tobytes()).decode()})  # fmt: skip
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = run(with_home(world, tmp_path / "home"), "import", "robotoff", "--jsonl", str(export))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^import: 3/3 rows, [\d.]+ rows/s, 00:00 left$", done.stderr, re.MULTILINE), done.stderr
    assert re.search(
        r"import: 3 rows read in [\d.]+ s, 3 logos imported, 0 refused; the index holds 3 logos", done.stderr
    )
    missing = run(with_home(world, tmp_path / "home"), "import", "robotoff", "--jsonl", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"error: no such file: {tmp_path / 'nope.jsonl'}; check the path (nothing was imported)"
    )
