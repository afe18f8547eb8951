"""The one open transaction a unit of work's repositories share, and its error edge."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from switchboard.adapters.storage.errors import ReadOnlyUnitOfWork, translated

Rows: TypeAlias = CursorResult[*tuple[Any, ...]]


class Transaction:
    def __init__(self, connection: AsyncConnection, *, write: bool) -> None:
        self._connection = connection
        self._write = write

    def insert_ignoring_duplicates(self, table: Table) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING``: a duplicate inserts no row and, unlike an
        ``IntegrityError``, does not abort a PostgreSQL transaction."""
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    async def read(self, what: str, statement: Executable) -> Rows:
        with translated(what):
            return await self._connection.execute(statement)

    async def write(
        self, what: str, statement: Executable, parameters: list[dict[str, Any]] | None = None
    ) -> Rows:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        with translated(what):
            return await self._connection.execute(statement, parameters)
