"""``logo-ann`` as a newcomer meets it, run as a subprocess: help that describes every option and
its default, numbers checked before anything runs, and one-line errors that say what to do."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common.cli.commands import build_parser

CLI = [sys.executable, "-m", "common.cli"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOGO_ANN_")}
    environ.update(env or {})
    return subprocess.run([*CLI, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error line of a command that failed cleanly: no traceback, one ``error:`` line."""
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((f"{prefix}{name}", child))
                found += subcommands(child, f"{prefix}{name} ")
    return found


def test_every_command_and_option_is_described() -> None:
    commands = subcommands(build_parser())
    assert {"ingest", "serve", "search", "calibrate", "predictions export", "import robotoff"} <= {
        n for n, _ in commands
    }
    for name, parser in commands:
        assert parser.description, f"`{name} --help` has no description"
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                assert action.help, f"`{name}`: {action.dest} has no help"


def test_every_option_with_a_default_shows_it() -> None:
    """A default of 0 or 0.0 too (``0 == False``): ``samples --seed``, ``backfill --rate``."""
    for name, parser in subcommands(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            takes_value = action.nargs != 0 and not isinstance(action, argparse._HelpAction)
            if takes_value and action.default is not None and action.default != argparse.SUPPRESS:
                shown = formatter._get_help_string(action)  # what --help prints for it
                assert "default" in shown, f"`{name}`: {action.dest} hides its default {action.default!r}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["serve"], ["--port PORT", "(default: 8080)", "--host HOST", "(default: 127.0.0.1)"]),
        (["ingest"], ["PATH", "image files, or folders searched for images", "--json"]),
        (["search"], ["--count COUNT", "(default: 10)", "LOGO_ID"]),
        (["samples"], ["--count COUNT", "(default: 24)", "--out OUT", "(default: samples)", "(default: 0)"]),
        (["reconcile"], ["--older-than SECONDS", "(default: 600.0)"]),
        (["predictions", "export"], ["--min-precision MIN_PRECISION", "in [0, 1]", "(default: no minimum)"]),
    ],
)
def test_help_shows_descriptions_and_defaults(tmp_path: Path, command: list[str], expected: list[str]) -> None:
    done = run(*command, "--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps long lines
    for part in expected:
        assert part in text, done.stdout


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["predictions", "export", "--min-precision", "2"], "--min-precision: must be in [0.0, 1.0], got 2"),
        (["calibrate", "--target-precision", "0"], "--target-precision: must be in (0.0, 1.0], got 0"),
        (["search", "--count", "0"], "--count: must be in [1, 500], got 0"),
        (["search", "--count", "many"], "--count: expected an integer, got 'many'"),
        (["serve", "--port", "70000"], "--port: must be in [0, 65535], got 70000"),
        (["samples", "--count", "0"], "--count: must be in [1, 100000], got 0"),
        (["reconcile", "--older-than", "-1"], "--older-than: must be in [0, inf], got -1"),
        (["backfill", "--bucket", "b", "--rate", "-2"], "--rate: must be in [0, inf], got -2"),
        (["import", "robotoff", "--jsonl", "x", "--batch-size", "0"], "--batch-size: must be in [1, 1000000], got 0"),
        (["dead-letters", "list", "--max", "0"], "--max: must be in [1, 100000], got 0"),
    ],
)
def test_out_of_range_numbers_are_refused_before_anything_runs(
    tmp_path: Path, command: list[str], message: str
) -> None:
    done = run(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert message in one_line_error(done)
    assert list(tmp_path.iterdir()) == []  # no data folder, no file


def test_a_read_command_on_a_missing_data_folder_names_it_and_creates_nothing(tmp_path: Path) -> None:
    done = run("search", "1", cwd=tmp_path)
    assert done.returncode == 2
    line = one_line_error(done)
    assert f"no data in {tmp_path / '.logo-ann'}" in line
    assert f"LOGO_ANN_HOME is not set: .logo-ann in the current folder {tmp_path}" in line
    assert "set LOGO_ANN_HOME" in line and "logo 1 does not exist" not in done.stderr
    assert not (tmp_path / ".logo-ann").exists()

    elsewhere = tmp_path / "elsewhere"
    done = run("predictions", "export", cwd=tmp_path, env={"LOGO_ANN_HOME": str(elsewhere)})
    assert done.returncode == 2
    assert f"no data in {elsewhere} (LOGO_ANN_HOME={elsewhere})" in one_line_error(done)
    assert not elsewhere.exists()


def test_ingest_of_a_path_that_does_not_exist_fails_and_ingests_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run("ingest", str(tmp_path / "typo"), cwd=tmp_path, env={"LOGO_ANN_HOME": str(home)})
    assert done.returncode == 2
    assert f"no such file or folder: {tmp_path / 'typo'}; check the path" in one_line_error(done)
    assert not home.exists()


def test_ingest_of_a_folder_without_images_fails(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a photo")
    done = run("ingest", str(tmp_path / "notes"), cwd=tmp_path, env={"LOGO_ANN_HOME": str(tmp_path / "home")})
    assert done.returncode == 1
    assert f"no image files in {tmp_path / 'notes'}" in one_line_error(done)


def test_a_busy_port_is_one_line_that_names_port_and_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"LOGO_ANN_HOME": str(tmp_path / "home"), "LOGO_ANN_DETECTOR_MODEL": str(tmp_path / "none.onnx")}
        done = run("serve", "--port", str(port), "--no-inbox", cwd=tmp_path, env=env)
    assert done.returncode == 2
    line = one_line_error(done)
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_a_logo_not_found_names_the_data_folder_it_was_looked_for_in(tmp_path: Path) -> None:
    """An empty data folder (made by an ingest that failed, or elsewhere) says so, not just "no logo 1"."""
    from common.adapters.sqlite_store import SqliteStore

    home = tmp_path / "home"
    home.mkdir()
    SqliteStore(home / "logo-ann.sqlite3").close()
    done = run("search", "1", cwd=tmp_path, env={"LOGO_ANN_HOME": str(home)})
    assert done.returncode == 1
    line = one_line_error(done)
    assert (
        line == f"error: logo 1 does not exist or has no embedding; 0 logos with embeddings in {home} (LOGO_ANN_HOME)"
    )


def test_a_host_that_is_no_address_is_one_line_that_names_the_option(tmp_path: Path) -> None:
    env = {"LOGO_ANN_HOME": str(tmp_path / "home"), "LOGO_ANN_DETECTOR_MODEL": str(tmp_path / "none.onnx")}
    done = run("serve", "--host", "999.1.1.1", "--port", "0", "--no-inbox", cwd=tmp_path, env=env)
    assert done.returncode == 2
    line = one_line_error(done)
    assert line.startswith("error: cannot listen on 999.1.1.1:0: ") and "--host" in line


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "photo.jpg"  # LOGO_ANN_HOME given a file by mistake
    home.write_bytes(b"not a folder")
    for command in (["search", "1"], ["ingest", str(home)]):
        done = run(*command, cwd=tmp_path, env={"LOGO_ANN_HOME": str(home)})
        assert done.returncode == 2
        assert f"the data folder {home} (LOGO_ANN_HOME={home}) is a file" in one_line_error(done)


def test_ingest_without_the_model_files_fails_before_making_a_data_folder(tmp_path: Path) -> None:
    """Run from a folder without ``models/``: the model error, and no empty data folder left behind
    (a later ``search`` would read it and find nothing)."""
    (tmp_path / "photo.jpg").write_bytes(b"never read")
    home = tmp_path / "home"
    done = run("ingest", str(tmp_path / "photo.jpg"), cwd=tmp_path, env={"LOGO_ANN_HOME": str(home)})
    assert done.returncode == 2
    assert f"ONNX model file not found: {tmp_path / 'models' / 'detector.onnx'}" in one_line_error(done)
    assert not home.exists()
