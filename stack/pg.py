"""Throwaway PostgreSQL databases for tests: the machine's server, or ``LOGO_ANN_TEST_PG_URL``."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pg8000.dbapi
import pytest

from common.adapters.sql.pg_url import parse_database_url

ADMIN_URL = os.environ.get("LOGO_ANN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_connection() -> Any:
    conn = pg8000.dbapi.connect(**parse_database_url(ADMIN_URL))
    conn.autocommit = True
    return conn


def skip_unless_reachable() -> Any:
    """An admin connection, or skip the test with the reason."""
    try:
        return admin_connection()
    except (pg8000.dbapi.Error, OSError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL} (set LOGO_ANN_TEST_PG_URL): {exc}")


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, randomly named database for one test; dropped afterwards. Yields its URL."""
    admin = skip_unless_reachable()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.split("?")[0].rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
