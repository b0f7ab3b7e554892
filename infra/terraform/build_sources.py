"""Build each cloud function's source archive: its ``main.py``, the ``common/`` package and a
``requirements.txt`` pinned from ``pyproject.toml``.

    python infra/terraform/build_sources.py            # writes build/functions/<function>.zip

The archives are reproducible (sorted entries, fixed timestamps and modes), so an unchanged tree
gives byte-identical zips and Terraform, which names the uploaded object by its MD5, does not
redeploy a function whose code did not change.
"""

from __future__ import annotations

import argparse
import logging
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from common.deploy import FUNCTIONS, requirements_for  # noqa: E402
from common.errors import ConfigError  # noqa: E402

log = logging.getLogger("build_sources")

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _package_files(package: Path) -> Iterator[Path]:
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if path.is_file() and not _SKIPPED_DIRS.intersection(relative.parts) and path.suffix not in _SKIPPED_SUFFIXES:
            yield path


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_archive(function: str, out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Write ``out_dir/<function>.zip`` and return its path."""
    main = repo_root / "functions" / function / "main.py"
    if not main.is_file():
        raise ConfigError(f"{main} is missing: cannot build the {function} archive")
    package = repo_root / "common"
    requirements = requirements_for(function, repo_root / "pyproject.toml")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{function}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        _write(archive, "main.py", main.read_bytes())
        _write(archive, "requirements.txt", ("\n".join(requirements) + "\n").encode())
        for path in _package_files(package):
            _write(archive, f"common/{path.relative_to(package).as_posix()}", path.read_bytes())
    partial.replace(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "functions", help="output folder")
    parser.add_argument("functions", nargs="*", default=list(FUNCTIONS), help="functions to build (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for function in args.functions:
            log.info("built %s", build_archive(function, args.out))
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
