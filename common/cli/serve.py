"""``logo-ann serve``: the search API, the upload endpoint and an inbox folder, on one machine."""

from __future__ import annotations

import errno
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import waitress

from common.api import create_app, local_identity
from common.auth import Identity
from common.bootstrap import Container
from common.cli.support import home_text, port_in_use_line
from common.errors import CommandError
from common.pipeline.ingest import IMAGE_SUFFIXES, ingest_file
from common.settings import Settings

logger = logging.getLogger(__name__)


class InboxWatcher(threading.Thread):
    """Processes image files dropped into ``inbox/``; moves each to ``done/`` or ``failed/``.

    A file is taken once its size has stayed the same for one poll (so half-copied files
    are left alone); names starting with '.' are ignored (write to ``.name`` then rename).
    """

    def __init__(self, container: Container, inbox: Path, interval: float = 1.0) -> None:
        super().__init__(name="inbox", daemon=True)
        self.container = container
        self.inbox = inbox
        self.interval = interval
        self.stop_event = threading.Event()
        self._sizes: dict[Path, int] = {}
        for folder in ("done", "failed"):
            (inbox / folder).mkdir(parents=True, exist_ok=True)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - keep watching; the error is logged
                logger.exception("inbox poll failed")

    def poll(self) -> int:
        done = 0
        for path in sorted(self.inbox.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            size = path.stat().st_size
            if self._sizes.get(path) != size:
                self._sizes[path] = size
                continue
            record = ingest_file(path, self.container.intake(), self.container.store)
            if record.get("retry"):  # a dependency is down: the next poll tries again (attempts are counted)
                logger.warning("inbox image left for the next poll", extra={"fields": record})
                continue
            target = "failed" if record["status"] == "failed" else "done"
            shutil.move(str(path), self.inbox / target / path.name)
            self._sizes.pop(path, None)  # the upload use case logged the file's one INFO line
            done += 1
        return done


def listen(container: Container, host: str, port: int) -> tuple[Any, Identity | None]:
    """The API bound to ``host:port`` (a waitress server, not yet running) and the local identity
    it grants (``common.api.local_identity``); a port already in use is a ``CommandError``."""
    app = create_app(container)
    # waitress: a production WSGI server (keep-alive, a fixed worker pool), unlike werkzeug's
    # development server; measured in bench/api.py. Bound before anything is loaded: a busy port fails at once.
    try:
        server = waitress.create_server(
            app, host=host, port=port, threads=container.settings.server_threads, ident="logo-ann"
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(port_in_use_line(host, port)) from exc
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port") from exc
    except ValueError as exc:  # waitress: a --host that is no address ("Invalid host/port specified.")
        raise CommandError(
            f"cannot listen on {host}:{port}: {str(exc).rstrip('.')}; give --host an IP address or a name"
        ) from exc
    # the person at this machine annotates with no sign-in, only when every bound socket is loopback
    app.local_user = local_identity.enable(container.settings, local_identity.server_hosts(server))
    return server, app.local_user


def serve(container: Container, host: str, port: int, watch_inbox: bool = True, new_home: str | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C; a port already in use is a ``CommandError`` (one line).
    ``new_home``: the line announcing a data folder this start creates (on stderr, once listening)."""
    server, local = listen(container, host, port)
    if new_home:
        print(f"logo-ann: {new_home}", file=sys.stderr, flush=True)
    container.fresh_index()  # load and catch the index up before the first request
    watcher = None
    if watch_inbox:
        watcher = InboxWatcher(container, container.settings.home / "inbox")
        watcher.start()
    bound = server.effective_port
    print(start_line(container.settings, host, bound, watcher.inbox if watcher else None, local), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        if watcher:
            watcher.stop_event.set()
        container.drain()  # the re-votes requests deferred
        container.fresh_index().flush()


def start_line(settings: Settings, host: str, port: object, inbox: Path | None, local: Identity | None = None) -> str:
    """Where the server answers, where its data is, and who may write."""
    data = (f"data in {home_text(settings)}" if settings.store == "sqlite"
            else f"metadata in PostgreSQL, files in {home_text(settings)}")  # fmt: skip
    if settings.api_token:
        writes = "writes need Authorization: Bearer $LOGO_ANN_API_TOKEN"
    else:
        writes = "writes only from this machine (set LOGO_ANN_API_TOKEN to allow others)"
    if local is not None:
        writes += f"; the page annotates as {local.name}"
    drop = f"; drop photos into {inbox.absolute()}" if inbox else ""
    return f"Logo-ANN serving on http://{host}:{port}/ ; {data}; {writes}{drop}"
