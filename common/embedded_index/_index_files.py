"""File helpers for an index kept on disk: locks, atomic writes, checksums, the meta file.

A saved index is a *generation*: a few data files named after it plus ``meta.json`` that points
to them. Data files are written under temporary names, fsynced and renamed; ``meta.json`` is
replaced last, so a reader sees either the old generation or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import files

log = logging.getLogger(__name__)

META = "meta.json"
LOCK = ".lock"
TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """Hold an ``flock`` on the directory's lock file (shared for readers, exclusive for writers)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``common.files.write_atomically`` under a fixed temporary name (writers hold the lock)."""
    files.write_atomically(path, write, tmp=path.with_name(path.name + TMP_SUFFIX))


def crc32_of(path: Path, chunk: int = 1 << 22) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


def read_meta(directory: Path) -> dict[str, Any] | None:
    """The committed meta, or None when there is none or it cannot be parsed."""
    path = directory / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("index meta %s is unreadable (%s); starting empty", path, exc)
        return None
    if not isinstance(meta, dict):
        log.warning("index meta %s is not an object; starting empty", path)
        return None
    return meta


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    payload = json.dumps(meta, indent=1, sort_keys=True).encode("utf-8")
    write_atomically(directory / META, lambda tmp: tmp.write_bytes(payload))
    fsync_dir(directory)


def meta_stamp(directory: Path) -> tuple[int, int, int] | None:
    """(inode, mtime_ns, size) of the meta file: changes whenever a new generation is committed."""
    try:
        st = os.stat(directory / META)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def remove_unreferenced(directory: Path, keep: set[str]) -> None:
    """Delete data files of older generations and leftovers of interrupted saves (caller holds the lock)."""
    for path in directory.iterdir():
        if path.name in keep or path.name in (META, LOCK):
            continue
        if path.suffix in (".usearch", ".packed", ".npy", ".f32") or path.name.endswith(TMP_SUFFIX):
            with contextlib.suppress(OSError):
                path.unlink()
