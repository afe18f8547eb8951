"""The SQL unit of work: one connection, one transaction, the five repositories over it.

A write unit of work begins its transaction at once (``BEGIN IMMEDIATE`` on SQLite: writers
queue here, on the busy timeout, rather than failing later on a lock upgrade). Leaving it
without ``commit`` rolls back. After ``commit`` it may go on: the next statement begins a new
transaction, which leaving again rolls back unless committed.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchboard.adapters.storage.call_repository import SqlCallRepository
from switchboard.adapters.storage.engine import WRITER
from switchboard.adapters.storage.errors import translated
from switchboard.adapters.storage.repositories import (
    SqlAccountRepository,
    SqlAgentRepository,
    SqlGroupRepository,
    SqlSettingsRepository,
)
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.events import Event
from switchboard.service.ports import (
    AccountRepository,
    AgentRepository,
    CallRepository,
    GroupRepository,
    SettingsRepository,
)

if TYPE_CHECKING:
    from switchboard.service.ports import UnitOfWork, UnitOfWorkFactory


class SqlUnitOfWork:
    accounts: AccountRepository
    agents: AgentRepository
    groups: GroupRepository
    calls: CallRepository
    settings: SettingsRepository

    def __init__(self, engine: AsyncEngine, *, write: bool) -> None:
        self._engine = engine
        self._write = write
        self._connection: AsyncConnection | None = None
        self.events: list[Event] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._connection is not None:
            raise RuntimeError("a unit of work is entered once")
        with translated("open a transaction"):
            connection = await self._engine.connect()
            try:
                if self._write:
                    connection = await connection.execution_options(**{WRITER: True})
                await connection.begin()
            except BaseException:
                await connection.close()
                raise
        self._connection = connection
        tx = Transaction(connection, write=self._write)
        self.accounts = SqlAccountRepository(tx)
        self.agents = SqlAgentRepository(tx)
        self.groups = SqlGroupRepository(tx)
        self.calls = SqlCallRepository(tx)
        self.settings = SqlSettingsRepository(tx)
        return self

    async def commit(self) -> None:
        if self._connection is None:
            raise RuntimeError("commit outside the unit of work")
        with translated("commit"):
            await self._connection.commit()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with translated("roll back"):
                await connection.close()  # rolls back what was not committed
        except Exception:
            if exc is None:
                raise
            # The error already on its way out says more than a failed rollback.


class SqlUnitOfWorkFactory:
    """``factory(write=True)`` opens a unit of work; the engine is the caller's to dispose."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)


if TYPE_CHECKING:

    def _conforms(factory: SqlUnitOfWorkFactory, uow: SqlUnitOfWork) -> None:
        _factory: UnitOfWorkFactory = factory
        _uow: UnitOfWork = uow
