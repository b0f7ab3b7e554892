"""The embedded default object store: one folder per bucket under a root directory.

Object names may contain ``/`` (sub-folders). A name that would resolve outside its bucket
folder (``..`` segments, an absolute path, a NUL byte, a symlink pointing elsewhere) is refused
with ``InvalidEventError``. Writes are atomic (temporary file then ``os.replace``), so a reader
never sees half an image. The generation of an object is the ``st_mtime_ns`` of its file at
``put`` time: a reference to an older generation no longer matches once the file is rewritten.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from common.domain import ObjectRef
from common.errors import DependencyError, InvalidEventError, NotFoundError
from common.files import write_atomically
from common.records.logos import ListedObject

log = logging.getLogger(__name__)

_TMP_PREFIX = ".tmp-"
MAX_NAME_BYTES = 1024  # Cloud Storage's limit on object names
MAX_SEGMENT_BYTES = 255  # a file name on common filesystems


class LocalImageStore:
    """``ImageStore`` over a local folder: ``root/<bucket>/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def get(self, ref: ObjectRef) -> bytes:
        path = self._path(ref.bucket, ref.name)
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                if ref.generation != "0" and str(stat.st_mtime_ns) != ref.generation:
                    raise NotFoundError(
                        f"{ref.bucket}/{ref.name} generation {ref.generation} is gone (now {stat.st_mtime_ns})"
                    )
                return handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"no object {ref.bucket}/{ref.name}") from exc
        except PermissionError as exc:
            raise DependencyError("storage", f"cannot read {ref.bucket}/{ref.name}: {exc}") from exc

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectRef:
        path = self._path(bucket, name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            generation = _write_atomically(path, data)
        except OSError as exc:
            raise DependencyError("storage", f"cannot write {bucket}/{name}: {exc}") from exc
        log.debug("stored %s/%s (%d bytes, generation %s)", bucket, name, len(data), generation)
        return ObjectRef(bucket, name, generation)

    def stat(self, bucket: str, name: str) -> ObjectRef | None:
        """The current generation of an object, or None if it does not exist."""
        path = self._path(bucket, name)
        try:
            return ObjectRef(bucket, name, str(path.stat().st_mtime_ns)) if path.is_file() else None
        except FileNotFoundError:
            return None

    def delete(self, ref: ObjectRef) -> None:
        """Remove the object; deleting a missing object is not an error (idempotent)."""
        path = self._path(ref.bucket, ref.name)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError as exc:
            raise NotFoundError(f"no object {ref.bucket}/{ref.name}") from exc
        except OSError as exc:
            raise DependencyError("storage", f"cannot delete {ref.bucket}/{ref.name}: {exc}") from exc

    def list(self, bucket: str) -> list[ObjectRef]:
        """Every object of a bucket (current generations), sorted by name."""
        folder = self._bucket_dir(bucket)
        if not folder.is_dir():
            return []
        refs = []
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith(_TMP_PREFIX):
                name = path.relative_to(folder).as_posix()
                refs.append(ObjectRef(bucket, name, str(path.stat().st_mtime_ns)))
        return sorted(refs, key=lambda ref: ref.name)

    def list_objects(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        """``ObjectLister``: the bucket's objects under ``prefix``, after ``start_after``, by name."""
        folder = self._bucket_dir(bucket)
        if not folder.is_dir():
            return
        found = []
        try:
            for path in folder.rglob("*"):
                name = path.relative_to(folder).as_posix()
                if name.startswith(prefix) and name > start_after and not path.name.startswith(_TMP_PREFIX):
                    if path.is_file():
                        found.append((name, path.stat()))
        except OSError as exc:
            raise DependencyError("storage", f"cannot list {bucket}: {exc}") from exc
        for name, stat in sorted(found, key=lambda item: item[0]):
            updated = dt.datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=dt.UTC)
            yield ListedObject(bucket, name, stat.st_size, updated)

    def ping(self) -> None:
        if self.root.exists() and not os.access(self.root, os.R_OK | os.W_OK):
            raise DependencyError("storage", f"{self.root} is not readable and writable")

    # --- paths --------------------------------------------------------------------------
    def _bucket_dir(self, bucket: str) -> Path:
        if not bucket or "\x00" in bucket or "/" in bucket or "\\" in bucket or bucket in (".", ".."):
            raise InvalidEventError(f"invalid bucket name {bucket!r}")
        return self.root / bucket

    def _path(self, bucket: str, name: str) -> Path:
        folder = self._bucket_dir(bucket)
        check_object_name(name)
        if name.endswith("/"):
            raise InvalidEventError(f"object name {name!r} names a folder")
        path = folder / name
        resolved_root = folder.resolve()
        resolved = path.resolve()
        if resolved != resolved_root and resolved_root not in resolved.parents:
            raise InvalidEventError(f"object name {name!r} resolves outside bucket {bucket!r}")
        return path


def check_object_name(name: str) -> None:
    """Refuse names that are empty, absolute, hold a NUL byte or a ``..`` path segment."""
    if not name:
        raise InvalidEventError("empty object name")
    if "\x00" in name:
        raise InvalidEventError(f"object name {name!r} contains a NUL byte")
    if name.startswith(("/", "\\")):
        raise InvalidEventError(f"object name {name!r} is absolute")
    segments = name.replace("\\", "/").split("/")
    if ".." in segments:
        raise InvalidEventError(f"object name {name!r} contains a '..' segment")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidEventError(
            f"object name of {len(name.encode('utf-8', 'surrogatepass'))} bytes exceeds "
            f"the limit of {MAX_NAME_BYTES} bytes"
        )
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for part in segments):
        raise InvalidEventError(
            f"object name {name[:60]!r}... has a part longer than {MAX_SEGMENT_BYTES} bytes, "
            "which a local folder cannot store"
        )


def _write_atomically(path: Path, data: bytes) -> str:
    """Write through a temporary file and ``os.replace``; returns the new generation.

    File timestamps tick coarsely (a few ms on Linux), so two writes in one tick would share
    an ``mtime_ns``; the new file's mtime is pushed past the old one's to keep generations unique.
    """
    try:
        previous: int | None = path.stat().st_mtime_ns
    except FileNotFoundError:
        previous = None
    mtime = 0

    def write(tmp: Path) -> None:
        nonlocal mtime
        tmp.write_bytes(data)
        stat = tmp.stat()
        mtime = stat.st_mtime_ns
        if previous is not None and mtime <= previous:
            mtime = previous + 1
            os.utime(tmp, ns=(stat.st_atime_ns, mtime))

    write_atomically(path, write, prefix=_TMP_PREFIX)
    return str(mtime)
