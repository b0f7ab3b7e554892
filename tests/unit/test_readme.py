"""The README stays a first page: short, the two commands and the map on its first screen, every
figure naming a record that exists, links that resolve; the reference lives in ``docs/`` and every
benchmark stage is described in ``bench/README.md``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
FIRST_SCREEN = 50  # lines a terminal or a repository page shows before any scrolling


def section(title: str) -> str:
    """The text under ``## title`` up to the next second-level heading."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert found, f"README has no '## {title}' section"
    return found.group(1)


def test_the_readme_is_a_first_page_not_a_manual() -> None:
    assert len(README.splitlines()) <= 150


def test_the_first_screen_has_the_commands_and_the_map() -> None:
    first = "\n".join(README.splitlines()[:FIRST_SCREEN])
    for command in ("make run", "PORT=", "make test-fast", "make test ", ".venv/bin/logo-ann"):
        assert command in first, f"{command!r} is not on the README's first screen"
    assert "## Map" in first
    map_lines = section("Map").split("```")[1].strip().splitlines()
    assert 8 <= len(map_lines) <= 16 and map_lines[-1] in first  # the whole map fits


def test_every_figure_names_a_record_that_exists() -> None:
    rows = [line for line in section("Figures").splitlines() if line.startswith("|") and "---" not in line]
    assert len(rows) > 1
    header, *figures = rows
    assert header.rstrip(" |").endswith("record")
    for row in figures:
        record = row.rstrip(" |").rsplit("|", 1)[1].strip().strip("`")
        assert record.endswith(".json") and (ROOT / "bench" / "results" / record).is_file(), row


def test_links_resolve_and_the_reference_pages_exist() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to a missing {target}"
    for page in ("cli", "api", "annotations", "import", "configuration", "security", "deployment",
                 "architecture", "benchmarks"):  # fmt: skip
        assert f"(docs/{page}.md)" in README and (ROOT / "docs" / f"{page}.md").is_file()
    assert (ROOT / "bench" / "ANALYSIS.md").is_file()


def test_bench_readme_describes_every_stage_and_how_to_add_one() -> None:
    bench_readme = (ROOT / "bench" / "README.md").read_text()
    stages = re.findall(r'\bstage\("(\w+)"', (ROOT / "bench" / "run.py").read_text())
    assert len(stages) > 5
    for stage in stages:
        assert f"| `{stage}` (`{stage}.json`" in bench_readme, f"bench/README.md does not describe the {stage} stage"
    assert "## Adding a stage" in bench_readme and "bench/results/<stage>.json" in bench_readme
