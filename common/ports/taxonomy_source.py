"""Where the Open Food Facts taxonomy files come from: a local path or an http(s) URL.

``common.labels.taxonomy`` decides when to load and what a file means; the adapter
(``common.adapters.taxonomy_files``) reads the bytes, with its time limits and retries.
"""

from __future__ import annotations

from typing import Protocol


class TaxonomySource(Protocol):
    def modified(self, source: str) -> float | None:
        """A path's modification time (``OSError`` when it cannot be read); None for a URL, whose
        file is read again at each refresh."""
        ...

    def read(self, source: str) -> bytes:
        """The bytes of the file at ``source`` (a path or an http(s) URL); ``DependencyError``
        when it cannot be read."""
        ...

    def download(self, url: str) -> bytes:
        """The bytes at ``url``, a transient failure tried again (never a 404): for ``taxonomies
        fetch``, where waiting is fine; the last failure is raised (``DependencyError``)."""
        ...
