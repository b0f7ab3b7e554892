"""The memory floor's reader (``bench/memory_floor.c``) and the floor it gives a build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import memory_floor


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return memory_floor.compiled(tmp_path_factory.mktemp("floor"))


def test_the_floor_is_the_lines_read_at_the_measured_rate() -> None:
    # 1M inserts x 2,500 codes x 8 lines = 2e10 lines; at 100 lines a microsecond, 200 s
    assert memory_floor.floor_seconds(1_000_000, 2_500, 100.0) == pytest.approx(200.0)
    assert memory_floor.floor_seconds(5_000_000, 2_500, 100.0) == pytest.approx(1_000.0)


def test_the_reader_reports_its_setting_and_a_rate(binary: Path) -> None:
    result = memory_floor.rate(binary, mb=4, threads=2, seconds=0.2, batch=4)
    assert (result["block"], result["mb"], result["threads"], result["batch"]) == (512, 4, 2, 4)
    assert result["lines_per_us"] > 0
    assert result["lines_per_us_per_thread"] == pytest.approx(result["lines_per_us"] / 2, abs=0.1)


@pytest.mark.parametrize("argv", [["100", "4", "1", "4", "0.1"], ["512", "4", "0", "4", "0.1"], ["512"]])
def test_the_reader_refuses_a_bad_setting_in_one_line(binary: Path, argv: list[str]) -> None:
    done = subprocess.run([str(binary), *argv], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "memory_floor" in done.stderr
    assert done.stdout == ""


def test_a_block_size_reaches_the_reader(binary: Path) -> None:
    result = memory_floor.rate(binary, mb=4, threads=1, seconds=0.1, batch=4, block=128)
    assert (result["block"], result["threads"]) == (128, 1)
    assert result["lines_per_us"] > 0


@pytest.mark.parametrize("blocks", ["100", "32", "64,x"])
def test_the_command_refuses_a_bad_block_size_in_one_line(blocks: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory_floor", "--blocks", blocks, "--seconds", "0.1"],
        capture_output=True,
        text=True,
        cwd=Path(memory_floor.__file__).resolve().parent.parent,
    )
    assert done.returncode == 2
    assert "--blocks" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
