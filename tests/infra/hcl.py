"""Read Terraform with python-hcl2 into plain dicts: quotes stripped, block markers dropped.

python-hcl2 (v7+) keeps string literals quoted (``'"s3"'``) and labels quoted (``'"detect"'``),
and marks blocks with ``__is_block__``. ``clean`` undoes both, so a literal reads ``s3`` and an
expression keeps its ``${...}`` form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "infra" / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
ENVIRONMENTS = ("dev", "prod")

Config = dict[str, list[Any]]


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(node: Any) -> Any:
    if isinstance(node, dict):
        return {unquote(key): clean(value) for key, value in node.items() if key != "__is_block__"}
    if isinstance(node, list):
        return [clean(item) for item in node]
    if isinstance(node, str):
        return unquote(node)
    return node


def parse_text(text: str) -> Config:
    return clean(hcl2.loads(text))


def load_dir(path: Path) -> Config:
    """All ``*.tf`` files of one module, merged by top-level block type."""
    merged: Config = {}
    for file in sorted(path.glob("*.tf")):
        for key, items in parse_text(file.read_text()).items():
            merged.setdefault(key, []).extend(items)
    return merged


def module_dirs() -> list[Path]:
    return sorted(p for p in MODULES_DIR.iterdir() if p.is_dir()) + [
        TERRAFORM_DIR / "environments" / env for env in ENVIRONMENTS
    ]


def labelled(config: Config, kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output``/``module`` blocks by label."""
    return {name: body for item in config.get(kind, []) for name, body in item.items()}


def resources(config: Config, resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in config.get("resource", []):
        for rtype, named in item.items():
            if rtype == resource_type:
                found.update(named)
    return found


def all_resources(config: Config) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (rtype, name, body)
        for item in config.get("resource", [])
        for rtype, named in item.items()
        for name, body in named.items()
    ]


def block(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The single nested block ``name`` of ``body``, or None."""
    items = body.get(name)
    if not items:
        return None
    assert isinstance(items, list) and len(items) == 1, f"expected one {name} block, got {items!r}"
    return items[0]


def dynamic_blocks(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for item in body.get("dynamic", []) for name, spec in item.items()}
