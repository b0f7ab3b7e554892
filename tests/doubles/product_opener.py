"""A local stand-in of Product Opener's ``/cgi/auth.pl`` (Open Food Facts' user check).

Product Opener's ``auth.pl`` runs its ``init_user`` and answers 200 when the request identifies
a user, 403 otherwise, with no useful body. A user is identified by:

- the ``session`` cookie ``user_id&<name>&user_session&<token>`` (values URI-escaped), when
  ``<token>`` is one of that user's open sessions (a token of another user does not count);
- the ``user_id`` and ``password`` parameters (query string or form body), when they match.

Any method is answered (Product Opener reads CGI parameters from GET and POST alike). Every
request is recorded, so tests can count how often the verdict was asked for. Faults can be
injected: ``fail_with = 503`` answers that status until reset.

    python -m tests.doubles.product_opener --port 8001 --user alice:secret --session alice:tok
"""

from __future__ import annotations

import argparse
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class Handler(BaseHTTPRequestHandler):
    server: ProductOpenerAuthDouble
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if "form-urlencoded" in (self.headers.get("Content-Type") or ""):
            params.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
        cookie = _session_cookie(self.headers.get("Cookie", ""))
        self.server.requests.append((self.command, split.path, dict(params), cookie))
        if split.path != "/cgi/auth.pl":
            status = 404
        elif self.server.fail_with is not None:
            status = self.server.fail_with
        else:
            status = 200 if self.server.identifies(params, cookie) else 403
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_HEAD = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr
        return


def _session_cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get("session")
    return morsel.value if morsel is not None else None


class ProductOpenerAuthDouble(ThreadingHTTPServer):
    """``/cgi/auth.pl`` on 127.0.0.1; ``users`` name → password, ``sessions`` name → tokens."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.users: dict[str, str] = {}
        self.sessions: dict[str, set[str]] = {}
        self.requests: list[tuple[str, str, dict[str, str], str | None]] = []
        self.fail_with: int | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cgi/auth.pl"

    def add_user(self, name: str, password: str) -> None:
        self.users[name] = password

    def open_session(self, name: str, token: str) -> str:
        """Open a session for ``name``; returns the ``session`` cookie value a browser would hold."""
        self.sessions.setdefault(name, set()).add(token)
        return f"user_id&{name}&user_session&{token}"

    def identifies(self, params: dict[str, str], cookie: str | None) -> bool:
        user, password = params.get("user_id"), params.get("password")
        if user is not None and password is not None:
            return self.users.get(user) == password
        if cookie:
            parts = [unquote(part) for part in cookie.split("&")]
            fields = dict(zip(parts[::2], parts[1::2], strict=False))
            name, token = fields.get("user_id"), fields.get("user_session")
            return name is not None and token is not None and token in self.sessions.get(name, set())
        return False

    def start(self) -> ProductOpenerAuthDouble:
        self._thread = threading.Thread(target=self.serve_forever, name="auth-pl-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (a second call does nothing)."""
        if self._thread is None:
            return
        self.shutdown()
        self._thread.join(timeout=10)
        self._thread = None
        self.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD")
    parser.add_argument("--session", action="append", default=[], help="NAME:TOKEN")
    args = parser.parse_args()
    server = ProductOpenerAuthDouble(args.port)
    for pair in args.user:
        server.add_user(*pair.split(":", 1))
    for pair in args.session:
        print("session cookie:", server.open_session(*pair.split(":", 1)))
    print("serving", server.url)
    server.serve_forever()


if __name__ == "__main__":
    main()
