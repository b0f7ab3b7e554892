"""Photos fetched by URL (the crop route's images that are not in our bucket).

The adapter (``common.adapters.http_images``) enforces the fetch policy: which hosts, ports and
addresses may be reached, how large and how slow an answer may be. The crop use case
(``common.pipeline.crops``) asks it first whether a URL may be fetched at all, so a refused URL is refused
before anything else, and runs each fetch under its own concurrency bound (``common.outbound``).
"""

from __future__ import annotations

from typing import Protocol

DEPENDENCY = "image host"  # the name errors and bounds give the remote image hosts


class RemoteImages(Protocol):
    @property
    def hosts(self) -> frozenset[str]:
        """The allow-listed hosts (lower case): the only ones fetched, and those whose paths may
        name a photo already in our bucket."""
        ...

    def check(self, url: str) -> None:
        """``FetchRefused`` unless the URL itself may be fetched (no connection is made)."""
        ...

    def fetch(self, url: str) -> bytes:
        """The bytes at ``url``: ``FetchRefused`` (policy), ``NotFoundError`` (404, 410) or
        ``DependencyError`` (timeout, refused, other statuses)."""
        ...
