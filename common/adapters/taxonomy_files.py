"""Taxonomy files by local path or http(s) URL: the ``TaxonomySource`` port
(``common.ports.taxonomy_source``).

A read inside a request has ``timeout_s`` (``LOGO_ANN_TAXONOMY_TIMEOUT_S``); the caller bounds
how many run at once (``common.outbound``). ``download`` is the operator's ``taxonomies fetch``:
``attempts`` tries within ``download_timeout_s`` each (0.5 s, then twice as long between tries),
except after a 404, which no retry mends.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import tenacity

from common.errors import DependencyError

logger = logging.getLogger(__name__)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_source(source: str, timeout: float = 60.0) -> bytes:
    """The bytes of a taxonomy file: a local path or an http(s) URL."""
    try:
        if is_url(source):
            with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 (http(s) only)
                return bytes(response.read())
        return Path(source).read_bytes()
    except (OSError, urllib.error.URLError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the connection; its code is still read (a 404 is not retried)
        raise DependencyError("taxonomy", f"cannot read {source}: {exc}") from exc


class TaxonomyFiles:
    """``TaxonomySource`` over the file system and ``urllib``."""

    def __init__(
        self,
        timeout_s: float = 60.0,
        download_timeout_s: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self.timeout_s = timeout_s
        self.download_timeout_s = download_timeout_s
        self.attempts = attempts

    def modified(self, source: str) -> float | None:
        return None if is_url(source) else os.stat(source).st_mtime

    def read(self, source: str) -> bytes:
        return read_source(source, self.timeout_s)

    def download(self, url: str) -> bytes:
        def log_retry(state: tenacity.RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            logger.warning("fetching %s failed (%s); retrying", url, failure)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, DependencyError) and not _is_not_found(exc)),
            stop=tenacity.stop_after_attempt(max(1, self.attempts)),
            wait=tenacity.wait_exponential(multiplier=0.5, min=0),
            before_sleep=log_retry,
            sleep=lambda seconds: time.sleep(seconds),
            reraise=True,
        )
        return retrying(read_source, url, self.download_timeout_s)


def _is_not_found(exc: DependencyError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, urllib.error.HTTPError) and cause.code == 404
