"""Trailing slashes accepted as Robotoff accepts them: ``/api/v1/images/logos/`` is ``/api/v1/images/logos``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class StripTrailingSlash:
    """WSGI middleware: drop trailing slashes from the path (not from ``/`` itself) before routing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        result: Iterable[bytes] = self.app(environ, start_response)
        return result
