"""The dialect object: how one SQL engine connects, opens transactions and reports failures.

The store writes its SQL once, with ``?`` placeholders; a dialect adapts the few places where
engines differ (row locks, JSON casts, timestamp types, placeholder style) and runs each unit of
work in one transaction on a pooled connection.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from common.adapters.sql.pool import ConnectionPool
from common.adapters.sql.tx import Tx
from common.errors import DependencyError, InvalidEventError

if TYPE_CHECKING:
    from common.adapters.sql.vectors import VectorStorage

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Database:
    """Base dialect: subclasses open connections and classify their driver's exceptions."""

    name = "sql"  # also the ``dependency`` of the DependencyError it raises
    lock_row = ""  # appended to a SELECT that must lock the row until commit
    json_param = "?"  # how a JSON document is passed as a parameter
    vectors: VectorStorage  # where embedding vectors live (set by each dialect)

    def __init__(self, pool_size: int) -> None:
        self.pool = ConnectionPool(self.connect, pool_size, self.name)

    # --- engine specifics ---------------------------------------------------------------
    def connect(self) -> Any:
        raise NotImplementedError

    def begin(self, tx: Tx, write: bool) -> None:
        """Open the transaction (drivers that open one implicitly do nothing)."""

    def prepare(self, sql: str) -> str:
        return sql

    def is_disconnect(self, exc: BaseException) -> bool:
        """The connection is unusable: discard it (and retry once on a fresh one)."""
        return False

    def is_transient(self, exc: BaseException) -> bool:
        """The failure may pass on retry: reported as ``DependencyError``."""
        return False

    def is_bad_value(self, exc: BaseException) -> bool:
        """The input itself is unacceptable (e.g. a NUL byte in text): reported as ``InvalidEventError``."""
        return False

    def lock_migrations(self, tx: Tx) -> None:
        """Serialise schema migrations across processes (within the current transaction)."""

    def lock_changes(self, tx: Tx) -> None:
        """Serialise writers of the change log, so sequence numbers commit in order."""

    def to_ts(self, value: dt.datetime) -> Any:
        return iso(value)

    def from_ts(self, value: Any) -> str:
        return iso(value) if isinstance(value, dt.datetime) else str(value)

    # --- running work -------------------------------------------------------------------
    def run(self, work: Callable[[Tx], T], write: bool, one_statement: bool = False) -> T:
        """Run ``work`` in one transaction; a dropped pooled connection is retried once.

        ``one_statement``: ``work`` reads with a single SELECT, which the engine already runs in a
        snapshot of its own, so no transaction is opened for it (SQLite: no BEGIN and no COMMIT,
        two statements fewer for the neighbour search's one lookup; each gives the interpreter
        lock up and waits to take it back under load)."""
        begin = write or not one_statement
        try:
            return self._attempt(work, write, begin)
        except _Reconnect as retry:
            stale = self.pool.discard_idle()
            logger.warning(
                "%s connection lost (%s); %d idle connection(s) dropped, retrying on a fresh one",
                self.name,
                describe(retry.cause),
                stale,
            )
            try:
                return self._attempt(work, write, begin)
            except _Reconnect as again:
                raise self._dependency_error(again.cause) from again.cause

    def _attempt(self, work: Callable[[Tx], T], write: bool, begin: bool = True) -> T:
        conn = self.pool.acquire()
        broken = False
        committing = False
        try:
            tx = Tx(conn.cursor(), self.prepare)
            if begin:
                self.begin(tx, write)
            result = work(tx)
            committing = True
            conn.commit()
            return result
        except BaseException as exc:  # even an interrupt must not leave a transaction open in the pool
            broken = self.is_disconnect(exc)
            if not broken:
                _rollback(conn)
            if broken and not committing:
                raise _Reconnect(exc) from exc
            if broken or self.is_transient(exc):
                raise self._dependency_error(exc) from exc
            if self.is_bad_value(exc):
                raise InvalidEventError(f"{self.name} refused a value: {describe(exc)}") from exc
            raise
        finally:
            self.pool.release(conn, broken)

    def _dependency_error(self, exc: BaseException) -> DependencyError:
        return DependencyError(self.name, describe(exc))

    def close(self) -> None:
        self.pool.close()
        self.vectors.close()


class _Reconnect(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception as exc:  # the original error matters more than a failed rollback
        logger.debug("rollback failed: %s", exc)


def describe(exc: BaseException) -> str:
    """A one-line description of a driver error (pg8000 puts a dict of fields in args[0])."""
    first = exc.args[0] if exc.args else None
    if isinstance(first, dict):
        return f"{first.get('M', '')} (SQLSTATE {first.get('C', '?')})"
    return f"{type(exc).__name__}: {exc}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2026-01-31T12:00:00.000000+00:00``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
