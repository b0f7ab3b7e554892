"""The layers a newcomer reads from the folder tree hold in the imports.

- ``offline/`` (model files, stand-ins, sample photos) is tooling: the serving package imports it
  only from the command line, so the functions and the API never ship or read it;
- records are values: ``common/records`` imports no port, adapter or use case;
- ports import no adapter, and the use cases (``common/pipeline``) import no adapter either:
  they receive what they use;
- the embedded index is reached through its package's face (``common.embedded_index``) from
  outside it, and only the composition root's builder names it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (at any depth, type-only imports included)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def offenders(
    folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (), *, modules_only: bool = False
) -> list[str]:
    """``path imports name`` for each import under ``folder`` of a name under ``forbidden``."""
    found = []
    for path in modules(folder):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(allowed):
            continue
        for imported in imports_of(path):
            if imported.startswith(forbidden) and (not modules_only or is_module(imported)):
                found.append(f"{name} imports {imported}")
    return found


def test_imports_of_sees_nested_and_type_only_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from offline.models import fetch\n"
        "def f():\n    import common.adapters.build\n"
    )
    seen = set(imports_of(probe))
    assert {"offline.models", "offline.models.fetch", "common.adapters.build"} <= seen


@pytest.mark.parametrize("folder", ["common", "functions"])
def test_serving_code_does_not_import_offline_tooling(folder: str) -> None:
    assert offenders(folder, ("offline",), allowed=("common/cli/",)) == []


def test_records_are_values() -> None:
    assert offenders("common/records", ("common.ports", "common.adapters", "common.pipeline", "common.api")) == []


def test_ports_and_use_cases_import_no_adapter() -> None:
    forbidden = ("common.adapters", "common.embedded_index", "common.api", "common.bootstrap")
    assert offenders("common/ports", forbidden) == []
    assert offenders("common/pipeline", forbidden) == []


def test_the_embedded_index_is_reached_through_its_face() -> None:
    inside = ("common.embedded_index.",)
    assert offenders("common", inside, allowed=("common/embedded_index/",), modules_only=True) == []
