"""The SQL unit of work: one connection, one transaction, the five repositories over it.

A write unit of work begins its transaction at once (``BEGIN IMMEDIATE`` on SQLite: writers
queue here, on the busy timeout, rather than failing later on a lock upgrade). On SQLite the
writers of one process also queue on an asyncio lock first: SQLite's busy handler polls with
sleeps of up to 100 ms, so letting a process's own writers contend through it turned a
queue of 20 requests into second-long tails; across processes the busy timeout still rules.
Leaving it without ``commit`` rolls back. After ``commit`` it may go on: the next statement
begins a new transaction, which leaving again rolls back unless committed.
"""

from __future__ import annotations

import asyncio
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

    def __init__(
        self, engine: AsyncEngine, *, write: bool, writer_lock: asyncio.Lock | None = None
    ) -> None:
        self._engine = engine
        self._write = write
        # The factory hands writers an engine that already carries ``WRITER``; marking each
        # connection instead would cost a round trip through the greenlet bridge per unit.
        self._mark_writer = write and not engine.get_execution_options().get(WRITER, False)
        self._writer_lock = writer_lock if write else None
        self._connection: AsyncConnection | None = None
        self.events: list[Event] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._connection is not None:
            raise RuntimeError("a unit of work is entered once")
        if self._writer_lock is not None:
            await self._writer_lock.acquire()
        try:
            with translated("open a transaction"):
                connection = await self._engine.connect()
                try:
                    if self._mark_writer:
                        connection = await connection.execution_options(**{WRITER: True})
                    await connection.begin()
                except BaseException:
                    await connection.close()
                    raise
        except BaseException:
            if self._writer_lock is not None:
                self._writer_lock.release()
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
        finally:
            if self._writer_lock is not None:
                self._writer_lock.release()


class SqlUnitOfWorkFactory:
    """``factory(write=True)`` opens a unit of work; the engine is the caller's to dispose."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Shares the engine's pool and event listeners (``BEGIN IMMEDIATE`` on SQLite).
        self._writer_engine = engine.execution_options(**{WRITER: True})
        self._writer_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        engine = self._writer_engine if write else self.engine
        return SqlUnitOfWork(engine, write=write, writer_lock=self._writer_lock)


if TYPE_CHECKING:

    def _conforms(factory: SqlUnitOfWorkFactory, uow: SqlUnitOfWork) -> None:
        _factory: UnitOfWorkFactory = factory
        _uow: UnitOfWork = uow
