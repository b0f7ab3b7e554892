"""The project's one atomic file write: a reader sees the old content or the new, never a part."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object], *, tmp: Path | None = None, prefix: str = "") -> None:
    """Call ``write(tmp)`` for a temporary file next to ``path``, fsync it and rename it over
    ``path``; the temporary file is removed when anything fails. ``tmp`` names it (the caller
    then holds a lock); otherwise it gets a unique name starting with ``prefix`` (default
    ``.<name>.``), so listings can skip it."""
    if tmp is None:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
