"""Who is calling: the credentials a request presents, and the identity they prove.

Open Food Facts' clients (the Hunger Games annotation game, the SDKs) send the ``session``
cookie of openfoodfacts.org, or HTTP Basic credentials. Robotoff parses a user name out of
either and trusts it; here nothing is trusted until the sign-in service has said yes
(``common.ports.sign_in``; Product Opener's ``/cgi/auth.pl``, ``common.adapters.product_opener``).

The user name is the value after ``user_id`` in the ``&``-separated cookie
(``user_id&alice&user_session&...``; Product Opener checks that the session belongs to that
user) or the Basic user. ``Credentials.cache_key`` is a hash of the whole credentials, so a
verdict is never kept under a secret in clear.

Flask routes use ``common.api.auth`` (``require_user``, ``current_user``) on top of this.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import urllib.parse


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a request presented: an Open Food Facts session cookie, or a Basic user and password."""

    kind: str  # "session" or "basic"
    user: str  # the name the credentials claim (not yet verified)
    secret: str  # the whole cookie value, or the password

    def cache_key(self) -> str:
        raw = f"{self.kind}\0{self.user}\0{self.secret}".encode()
        return hashlib.sha256(raw).hexdigest()


@dataclasses.dataclass(frozen=True)
class Identity:
    """A verified caller: ``name`` is what gets recorded on every change it makes."""

    name: str
    kind: str  # "session", "basic" (verified by Product Opener) or "token" (a service)


def session_user(cookie: str) -> str | None:
    """The user named by an Open Food Facts ``session`` cookie (``user_id&alice&user_session&...``)."""
    parts = [urllib.parse.unquote(part) for part in cookie.split("&")]
    for key, value in zip(parts[::2], parts[1::2], strict=False):
        if key == "user_id" and value.strip():
            return value.strip()
    return None


def session_credentials(cookie: str | None) -> Credentials | None:
    if not cookie:
        return None
    user = session_user(cookie)
    return Credentials("session", user, cookie) if user else None


def basic_credentials(header: str) -> Credentials | None:
    """Credentials from ``Authorization: Basic base64(user:password)``, or None if malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user or not password:
        return None
    return Credentials("basic", user, password)
