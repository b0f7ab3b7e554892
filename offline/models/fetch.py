"""Fetch the production models, verify them by sha256, and fall back to stand-ins offline.

The catalogue pins each model to a Hugging Face repository, file and revision (those Robotoff
uses). A download streams to a temporary file in the destination folder, hashed on the way,
and is moved into place with ``os.replace`` only once verified: the destination never holds a
partial or unverified file. Transient failures (connection refused or reset, a truncated
body, HTTP 5xx/429) are retried with exponential back-off; a 404 raises ``NotFoundError``, a
sha256 mismatch ``ModelError``, retries exhausted ``DependencyError``.

Where a catalogue entry has no expected sha256 (the hashes cannot be learnt offline), the
first fetch trusts what it downloads, records its sha256 in ``<file>.sha256`` and in
``models.lock.json`` next to the files, and says so; later fetches verify against the lock.

Both ``fetch`` and ``ensure_standins`` (``models prepare``) then write the embedder's uint8-input
wrapper next to it (``embedder-u8.onnx``, ``offline.models.uint8_input``).

CLI: ``logo-ann models fetch [--dest DIR] [--base-url URL] [--timeout S]``; wire it with
``add_fetch_arguments(subparser)`` and ``run_fetch(namespace)`` (returns the exit status).
The base URL defaults to ``$LOGO_ANN_MODELS_BASE_URL``, else ``https://huggingface.co``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import tenacity

from common.errors import DependencyError, LogoAnnError, ModelError, NotFoundError, PermanentError
from common.files import write_atomically
from offline.models.onnx_metadata import is_standin, mark_standin

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://huggingface.co"
BASE_URL_ENV = "LOGO_ANN_MODELS_BASE_URL"
DEFAULT_DEST = Path("models")
LOCK_NAME = "models.lock.json"
_CHUNK = 1 << 20
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One pinned model file; ``filename`` is its name on local disk."""

    name: str
    repo: str
    file: str
    revision: str
    filename: str
    sha256: str | None = None


CATALOGUE: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="detector",
        repo="openfoodfacts/universal-logo-detector",
        file="weights/model.onnx",
        revision="5d47dba7238344f1a0bb9e38f07e236ab2d79c9c",
        filename="detector.onnx",
    ),
    ModelEntry(
        name="embedder",
        repo="openfoodfacts/clip-vit-base-patch32",
        file="model.onnx",
        revision="591d0849745889d40d66649652130eb3fde38d71",
        filename="embedder.onnx",
    ),
)


@dataclasses.dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    sha256: str
    size: int
    downloaded: bool  # False: the file was already there with the expected hash
    recorded: bool  # True: no expected hash was known; the computed one was recorded


class _Retryable(Exception):
    """A download attempt failed in a way another attempt may fix."""


def model_url(entry: ModelEntry, base_url: str = DEFAULT_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/{entry.repo}/resolve/{entry.revision}/{entry.file}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_model(
    entry: ModelEntry,
    dest: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    expected_sha256: str | None = None,
    timeout: float = 60.0,
    attempts: int = 4,
    backoff_s: float = 1.0,
) -> FetchResult:
    """Download ``entry`` to the file ``dest`` unless it is already there and verified."""
    dest = Path(dest)
    expected = (expected_sha256 or entry.sha256 or _locked_sha256(entry, dest) or "").lower() or None
    if expected and dest.is_file() and sha256_file(dest) == expected:
        logger.info("%s: %s already present and verified (sha256 %s)", entry.name, dest, expected)
        return FetchResult(entry.name, dest, expected, dest.stat().st_size, downloaded=False, recorded=False)
    url = model_url(entry, base_url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("%s: downloading %s to %s", entry.name, url, dest)
    digest, size = _download_atomically(url, dest, expected, timeout=timeout, attempts=attempts, backoff_s=backoff_s)
    _record(entry, dest, digest, size)
    if expected is None:
        logger.warning(
            "%s: no expected sha256 was known; recorded %s in %s and %s, later fetches verify against it",
            entry.name,
            digest,
            dest.name + ".sha256",
            LOCK_NAME,
        )
    return FetchResult(entry.name, dest, digest, size, downloaded=True, recorded=expected is None)


def fetch_all(
    dest_dir: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    entries: Sequence[ModelEntry] | None = None,
    timeout: float = 60.0,
    attempts: int = 4,
    backoff_s: float = 1.0,
) -> list[FetchResult]:
    """Fetch ``entries`` (default: the catalogue) into ``dest_dir`` under their local ``filename``."""
    entries = CATALOGUE if entries is None else entries
    options: dict[str, Any] = {"base_url": base_url, "timeout": timeout, "attempts": attempts, "backoff_s": backoff_s}
    return [fetch_model(entry, Path(dest_dir) / entry.filename, **options) for entry in entries]


def _download_atomically(
    url: str, dest: Path, expected: str | None, *, timeout: float, attempts: int, backoff_s: float
) -> tuple[str, int]:
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            digest, size = _with_retries(lambda: _stream(url, handle, timeout), url, attempts, backoff_s)
            handle.flush()
            os.fsync(handle.fileno())
        if expected is not None and digest != expected:
            raise ModelError(f"{url}: sha256 mismatch: expected {expected}, got {digest}; file discarded")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return digest, size


def _with_retries(action: Callable[[], tuple[str, int]], url: str, attempts: int, backoff_s: float) -> tuple[str, int]:
    """``action()``, tried ``attempts`` times while it fails with ``_Retryable``, waiting
    ``backoff_s``, then twice as long each time; ``DependencyError`` once all attempts failed."""
    attempts = max(1, attempts)

    def log_retry(state: tenacity.RetryCallState) -> None:
        delay = state.next_action.sleep if state.next_action else 0.0
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: %s; retrying in %.1f s (attempt %d of %d)", url, exc, delay, state.attempt_number + 1, attempts
        )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_Retryable),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=backoff_s, min=0),
        before_sleep=log_retry,
        sleep=lambda seconds: time.sleep(seconds),
        reraise=True,
    )
    try:
        return retrying(action)
    except _Retryable as exc:
        raise DependencyError("model download", f"{url}: {exc} (gave up after {attempts} attempts)") from exc


def _stream(url: str, handle: IO[bytes], timeout: float) -> tuple[str, int]:
    """One attempt: write the body to ``handle`` from its start; returns (sha256, size)."""
    handle.seek(0)
    handle.truncate()
    digest, size = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": "logo-ann-models-fetch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection
        if exc.code == 404:
            raise NotFoundError(f"{url}: 404 not found (check the repository, file and revision)") from exc
        if exc.code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {exc.code}") from exc
        raise PermanentError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
    if declared is not None and declared.isdigit() and size != int(declared):
        raise _Retryable(f"connection closed after {size} of {declared} bytes")
    return digest.hexdigest(), size


def _read_lock(directory: Path) -> dict[str, Any]:
    path = directory / LOCK_NAME
    if not path.is_file():
        return {"version": 1, "models": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{path} is not valid JSON: {exc}; fix or delete it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise PermanentError(f"{path} has no 'models' object; fix or delete it")
    return data


def _lock_record(entry: ModelEntry, dest: Path) -> dict[str, str]:
    return {"repo": entry.repo, "file": entry.file, "revision": entry.revision, "path": dest.name}


def _locked_sha256(entry: ModelEntry, dest: Path) -> str | None:
    record = _read_lock(dest.parent)["models"].get(entry.name)
    if not isinstance(record, dict) or not _lock_record(entry, dest).items() <= record.items():
        return None  # never locked, or locked for another revision or file
    sha = record.get("sha256")
    return sha if isinstance(sha, str) else None


def _record(entry: ModelEntry, dest: Path, digest: str, size: int) -> None:
    _write_atomically(dest.parent / f"{dest.name}.sha256", f"{digest}  {dest.name}\n")
    lock = _read_lock(dest.parent)
    lock["models"][entry.name] = {**_lock_record(entry, dest), "sha256": digest, "size": size}
    _write_atomically(dest.parent / LOCK_NAME, json.dumps(lock, indent=2, sort_keys=True) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def ensure_standins(models_dir: Path) -> dict[str, bool]:
    """Build stand-in models where the real files are absent; returns ``{name: is_standin}``.

    Stand-ins take the catalogue's local file names, so ``fetch_all`` later replaces them.
    """
    models_dir = Path(models_dir)
    builders = _standin_builders()
    standins: dict[str, bool] = {}
    for entry in CATALOGUE:
        path = models_dir / entry.filename
        if not path.exists():
            builders[entry.name](path)
            mark_standin(path)
            logger.info("%s: built a stand-in model at %s", entry.name, path)
        standins[entry.name] = is_standin(path)
    _uint8_wrapper(models_dir)
    if any(standins.values()):
        names = ", ".join(name for name, flag in standins.items() if flag)
        logger.warning(
            "RUNNING ON STAND-IN MODELS (%s) in %s: detections, embeddings and search results are NOT "
            "meaningful; run `logo-ann models fetch` to install the real ones",
            names,
            models_dir,
        )
    return standins


def _uint8_wrapper(models_dir: Path) -> None:
    """The embedder's uint8-input wrapper (``offline.models.uint8_input``), next to the embedder."""
    from offline.models.uint8_input import ensure_uint8_wrapper

    embedder = next(entry for entry in CATALOGUE if entry.name == "embedder")
    if (models_dir / embedder.filename).is_file():
        try:
            ensure_uint8_wrapper(models_dir / embedder.filename)
        except ModelError as exc:  # the download itself succeeded and stays; only the wrapper is missing
            logger.warning("embedder: no uint8-input wrapper built: %s", exc)


def _standin_builders() -> Mapping[str, Callable[[Path], object]]:
    # imported here: building models needs the ``onnx`` package, which only this path uses
    from offline.models.standin_detector import build_blob_detector
    from offline.models.standin_embedder import build_full_clip_embedder

    return {"detector": build_blob_detector, "embedder": build_full_clip_embedder}


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``models fetch`` options to an argparse (sub)parser."""
    parser.add_argument("--dest", type=Path, default=None, help=f"folder for the model files (default: {DEFAULT_DEST})")
    parser.add_argument(
        "--base-url", default=None, help=f"model hub base URL (default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL})"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait on the network (default: 60)")


def run_fetch(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """``logo-ann models fetch``: fetch every catalogue model; returns the exit status."""
    environ = os.environ if environ is None else environ
    dest = getattr(args, "dest", None) or DEFAULT_DEST
    base_url = getattr(args, "base_url", None) or environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        results = fetch_all(Path(dest), base_url=base_url, timeout=float(getattr(args, "timeout", 60.0)))
        _uint8_wrapper(Path(dest))
    except LogoAnnError as exc:
        logger.error("models fetch failed: %s", exc)
        return 1
    for result in results:
        state = "downloaded" if result.downloaded else "already present"
        logger.info("%s: %s, %s (%d bytes, sha256 %s)", result.name, state, result.path, result.size, result.sha256)
    return 0
