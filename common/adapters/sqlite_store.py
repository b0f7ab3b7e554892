"""The embedded metadata store: one SQLite file, shared safely by several processes.

WAL journal (readers never block the writer), ``busy_timeout`` of 30 s (a writer waits for the
other process instead of failing with "database is locked"), foreign keys on, and every write
transaction opened with ``BEGIN IMMEDIATE`` so it takes the write lock up front instead of
failing to upgrade a read lock half-way. Embedding vectors live beside the database, in
``<path>.vectors-<dim>.f32`` (``SlotVectors``), written under that same lock.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from common.adapters.sql.database import Database
from common.adapters.sql.tx import Tx
from common.adapters.sql.vectors import SlotVectors
from common.adapters.sql_store import SqlStore
from common.errors import DependencyError

BUSY_TIMEOUT_S = 30.0


class SqliteDatabase(Database):
    name = "sqlite"

    def __init__(self, path: Path, pool_size: int = 4) -> None:
        self.path = Path(path)
        self.vectors = SlotVectors(self.path)
        super().__init__(pool_size)

    def connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions, this class issues BEGIN/COMMIT itself.
            # check_same_thread=False: the pool hands a connection to one thread at a time.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise DependencyError(self.name, f"cannot open {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")  # durable across crashes of the process in WAL mode
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise DependencyError(self.name, f"cannot configure {self.path}: {exc}") from exc
        return conn

    def begin(self, tx: Tx, write: bool) -> None:
        tx.exec("BEGIN IMMEDIATE" if write else "BEGIN")

    def is_transient(self, exc: BaseException) -> bool:
        # locked or busy past the timeout, disk full, I/O error, file unreadable
        return isinstance(exc, sqlite3.OperationalError)


class SqliteStore(SqlStore):
    """``MetadataStore`` in a SQLite file (created, and migrated, on first use)."""

    def __init__(self, path: Path, pool_size: int = 4, off_image_prefix: str = "") -> None:
        self.path = Path(path)
        super().__init__(SqliteDatabase(self.path, pool_size), off_image_prefix=off_image_prefix)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so). SQLite answers "database is locked" at once, without
    waiting on the busy timeout, when another process opens the same new file at that moment:
    retry with back-off until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
