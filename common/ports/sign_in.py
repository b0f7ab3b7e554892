"""Checking who a caller is with the sign-in service that owns the accounts (Open Food Facts').

The API never trusts a user name a request claims: ``common.api.auth`` parses the credentials
(``common.auth``) and asks this port. The adapter (``common.adapters.product_opener``) bounds and
caches the calls it makes; the routes see only the verdict.
"""

from __future__ import annotations

from typing import Protocol

from common.auth import Credentials, Identity


class SignIn(Protocol):
    def verify(self, credentials: Credentials) -> Identity | None:
        """The identity these credentials prove, or None when the service does not recognise them.
        ``TransientError`` when it cannot say now (unreachable, failing, too many checks in flight)."""
        ...
