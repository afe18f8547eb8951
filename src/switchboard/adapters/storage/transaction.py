"""The one open transaction a unit of work's repositories share, and its error edge.

Two implementations with one interface: ``SqliteTransaction`` runs each statement at once on
the loop's thread (its methods are coroutines only to share the interface, and never suspend);
``PostgresTransaction`` awaits asyncpg. Rows come back as tuples in the selected order.
Values in and out are the drivers' own: the repositories convert (``rows``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from switchboard.adapters.storage.database import Sql
from switchboard.adapters.storage.errors import ReadOnlyUnitOfWork, raise_translated
from switchboard.adapters.storage.rows import POSTGRES, SQLITE

Row = Sequence[Any]


class SqliteTransaction:
    d = SQLITE

    def __init__(self, connection: sqlite3.Connection, *, write: bool) -> None:
        self._connection = connection
        self._write = write

    async def _ensure(self) -> None:
        """Writers begin again after a commit (``uow``); readers need nothing."""

    @staticmethod
    def list_param(values: Iterable[str]) -> Any:
        # json, not orjson: ids come from clients, and json escapes what orjson refuses. Not
        # ASCII-escaped, so a lone surrogate reaches sqlite3, which refuses it (as asyncpg
        # does): an id that cannot be stored is the same error on every backend.
        return json.dumps(list(values), ensure_ascii=False)

    async def one(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> Row | None:
        await self._ensure()
        try:
            row: Row | None = self._connection.execute(sql.sqlite, parameters).fetchone()
            return row
        except Exception as exc:
            raise_translated(what, exc)

    async def all(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> list[Row]:
        await self._ensure()
        try:
            return self._connection.execute(sql.sqlite, parameters).fetchall()
        except Exception as exc:
            raise_translated(what, exc)

    async def run(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> int:
        """A write; returns the number of rows it changed."""
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        await self._ensure()
        try:
            return self._connection.execute(sql.sqlite, parameters).rowcount
        except Exception as exc:
            raise_translated(what, exc)

    async def run_returning(
        self, what: str, sql: Sql, parameters: Sequence[Any] = ()
    ) -> Row | None:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        await self._ensure()
        try:
            # Stepped to the end, so the statement is done before anything commits.
            found = self._connection.execute(sql.sqlite, parameters).fetchall()
        except Exception as exc:
            raise_translated(what, exc)
        return found[0] if found else None

    async def all_returning(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> list[Row]:
        """A write that returns every row it changed."""
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        return await self.all(what, sql, parameters)

    async def run_many(self, what: str, sql: Sql, parameters: Sequence[Sequence[Any]]) -> None:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        await self._ensure()
        try:
            self._connection.executemany(sql.sqlite, parameters)
        except Exception as exc:
            raise_translated(what, exc)


def _count(status: str) -> int:
    """asyncpg's command tag (``UPDATE 1``, ``INSERT 0 1``): its last word is the row count."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTransaction:
    d = POSTGRES

    def __init__(self, connection: Any, *, write: bool) -> None:
        self._connection = connection
        self._write = write

    async def _ensure(self) -> None:
        """Writers begin again after a commit (``uow``); readers need nothing."""

    @staticmethod
    def list_param(values: Iterable[str]) -> Any:
        return list(values)

    async def one(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> Row | None:
        await self._ensure()
        try:
            row: Row | None = await self._connection.fetchrow(sql.postgres, *parameters)
            return row
        except Exception as exc:
            raise_translated(what, exc)

    async def all(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> list[Row]:
        await self._ensure()
        try:
            return list(await self._connection.fetch(sql.postgres, *parameters))
        except Exception as exc:
            raise_translated(what, exc)

    async def run(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> int:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        await self._ensure()
        try:
            return _count(await self._connection.execute(sql.postgres, *parameters))
        except Exception as exc:
            raise_translated(what, exc)

    async def run_returning(
        self, what: str, sql: Sql, parameters: Sequence[Any] = ()
    ) -> Row | None:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        await self._ensure()
        try:
            row: Row | None = await self._connection.fetchrow(sql.postgres, *parameters)
            return row
        except Exception as exc:
            raise_translated(what, exc)

    async def all_returning(self, what: str, sql: Sql, parameters: Sequence[Any] = ()) -> list[Row]:
        """A write that returns every row it changed."""
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        return await self.all(what, sql, parameters)

    async def run_many(self, what: str, sql: Sql, parameters: Sequence[Sequence[Any]]) -> None:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        await self._ensure()
        try:
            await self._connection.executemany(sql.postgres, parameters)
        except Exception as exc:
            raise_translated(what, exc)


Transaction = SqliteTransaction | PostgresTransaction
