"""``Tx``: a cursor inside one open transaction, as every SQL module of the stores writes through it.

Kept apart from the dialect (``database``) so the modules that only run statements (the vector
storage among them) need not import the connection machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

CHUNK = 500  # ids per IN list (SQLite allows 32,766 parameters per statement, PostgreSQL 65,535)


class Tx:
    """A cursor inside one open transaction, speaking ``?`` placeholders."""

    def __init__(self, cursor: Any, prepare: Callable[[str], str]) -> None:
        self._cursor = cursor
        self._prepare = prepare

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self._execute(sql, params)
        return [tuple(row) for row in self._cursor.fetchall()] if self._cursor.description else []

    def one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        rows = self.rows(sql, *params)
        return rows[0] if rows else None

    def exec(self, sql: str, *params: Any) -> int:
        """Run a statement; returns the number of rows it changed."""
        self._execute(sql, params)
        return int(self._cursor.rowcount)

    def rows_in(self, sql: str, ids: Sequence[int], *params: Any) -> list[tuple[Any, ...]]:
        """``sql`` with ``{ids}`` standing for ``(?, ?, ...)``, run once per chunk of ``ids``
        (engines cap the parameters of one statement); ``params`` come before the ids."""
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), CHUNK):
            part = [int(i) for i in ids[start : start + CHUNK]]
            found += self.rows(sql.format(ids="(" + ", ".join("?" * len(part)) + ")"), *params, *part)
        return found

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        batch = params if isinstance(params, list) else [tuple(p) for p in params]
        if batch:
            self._cursor.executemany(self._prepare(sql), batch)

    def copy_in(self, sql: str, data: bytes) -> None:
        """``COPY ... FROM STDIN`` with ``data`` (PostgreSQL through pg8000 only)."""
        import io

        self._cursor.execute(sql, stream=io.BytesIO(data))

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        if params:
            self._cursor.execute(self._prepare(sql), params)
        else:
            self._cursor.execute(sql)
