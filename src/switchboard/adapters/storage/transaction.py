"""The one open transaction a unit of work's repositories share, and its error edge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from switchboard.adapters.storage.errors import ReadOnlyUnitOfWork, translated

Rows: TypeAlias = CursorResult[*tuple[Any, ...]]
Parameters: TypeAlias = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

# Built once per dialect and table: statements are immutable (``.values()`` copies), and a
# shared one keeps its memoised cache key, which a fresh one would compute on every insert.
_INSERTS_IGNORING_DUPLICATES: dict[tuple[str, Table], Any] = {}


class Transaction:
    def __init__(self, connection: AsyncConnection, *, write: bool) -> None:
        self._connection = connection
        self._write = write

    def insert_ignoring_duplicates(self, table: Table) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING``: a duplicate inserts no row and, unlike an
        ``IntegrityError``, does not abort a PostgreSQL transaction."""
        name = self._connection.dialect.name
        statement = _INSERTS_IGNORING_DUPLICATES.get((name, table))
        if statement is None:
            dialect = postgresql if name == "postgresql" else sqlite
            statement = dialect.insert(table).on_conflict_do_nothing()
            _INSERTS_IGNORING_DUPLICATES[(name, table)] = statement
        return statement

    async def read(self, what: str, statement: Executable, parameters: Parameters = None) -> Rows:
        with translated(what):
            return await self._connection.execute(statement, parameters)

    async def write(self, what: str, statement: Executable, parameters: Parameters = None) -> Rows:
        if not self._write:
            raise ReadOnlyUnitOfWork(what)
        with translated(what):
            return await self._connection.execute(statement, parameters)
