"""The cloud metadata store: PostgreSQL (Cloud SQL) through pg8000, pure Python.

A small pool (``pool_size`` connections, enough for one function instance) is shared by the
threads of the process; a connection the server dropped is discarded and the unit of work
retried once on a fresh one. Connection failures become ``DependencyError("postgresql", ...)``.
"""

from __future__ import annotations

import logging
from typing import Any

import pg8000.dbapi

from common.adapters.sql import pg_url
from common.adapters.sql.database import Database, describe
from common.adapters.sql.pg_url import describe as describe_target
from common.adapters.sql.pg_url import parse_database_url
from common.adapters.sql.tx import Tx
from common.adapters.sql.vectors import InlineVectors
from common.adapters.sql_store import SqlStore
from common.errors import DependencyError

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock keys (64-bit); any constant unlikely to clash with other applications
MIGRATION_LOCK = 0x4C4F474F_414E4E01  # "LOGOANN" 1
CHANGES_LOCK = 0x4C4F474F_414E4E02
# SQLSTATE classes and codes worth a retry: connection exception, resources, operator intervention,
# serialization failure, deadlock, lock not available
DISCONNECT_CODES = ("08", "57P01", "57P02", "57P03")
TRANSIENT_CODES = ("53", "40001", "40P01", "55P03", "57014")


class PostgresDatabase(Database):
    name = "postgresql"
    lock_row = " FOR UPDATE"
    json_param = "CAST(? AS jsonb)"

    def __init__(self, database_url: str, pool_size: int = 4) -> None:
        self._args = parse_database_url(database_url)
        self.target = describe_target(self._args)
        self.vectors = InlineVectors(copy=True)
        super().__init__(pool_size)

    def connect(self) -> Any:
        try:
            return pg_url.connect(self._args)
        except (pg8000.dbapi.Error, OSError) as exc:
            raise DependencyError(self.name, f"cannot connect to {self.target}: {describe(exc)}") from exc

    def prepare(self, sql: str) -> str:
        # pg8000 1.31 reads the module-wide ``paramstyle`` (default "format"), not the cursor's
        # attribute, so ``?`` placeholders are rewritten here; the store's SQL has no literal '?'.
        return sql.replace("%", "%%").replace("?", "%s")

    def is_disconnect(self, exc: BaseException) -> bool:
        if isinstance(exc, (pg8000.dbapi.InterfaceError, OSError)):
            return True
        return _sqlstate(exc).startswith(DISCONNECT_CODES)

    def is_transient(self, exc: BaseException) -> bool:
        return self.is_disconnect(exc) or _sqlstate(exc).startswith(TRANSIENT_CODES)

    def is_bad_value(self, exc: BaseException) -> bool:
        return _sqlstate(exc).startswith("22")  # data exception: bad encoding, value out of range...

    def lock_migrations(self, tx: Tx) -> None:
        tx.one("SELECT pg_advisory_xact_lock(?)", MIGRATION_LOCK)

    def lock_changes(self, tx: Tx) -> None:
        # Held to commit: change-log sequence numbers become visible in the order they were
        # taken, so a reader that has seen seq N can never later find a smaller one appear.
        tx.one("SELECT pg_advisory_xact_lock(?)", CHANGES_LOCK)

    def to_ts(self, value: Any) -> Any:
        return value  # an aware datetime, sent as timestamptz


def _sqlstate(exc: BaseException) -> str:
    if isinstance(exc, pg8000.dbapi.DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return str(exc.args[0].get("C", ""))
    return ""


class PostgresStore(SqlStore):
    """``MetadataStore`` in PostgreSQL; the schema is migrated when the store opens."""

    def __init__(self, database_url: str, pool_size: int = 4, off_image_prefix: str = "") -> None:
        super().__init__(PostgresDatabase(database_url, pool_size), off_image_prefix=off_image_prefix)
