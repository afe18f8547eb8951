"""The SQL unit of work: one transaction, the five repositories over it.

SQLite: a write unit of work takes this process's writer lock (an ``asyncio.Lock``: writers of
one process queue here, not on SQLite's lock) and opens a savepoint in the batch transaction
on the writer connection (``BEGIN IMMEDIATE`` when it starts a batch); its ``commit`` returns
once the batch it joined has committed (group commit: ``SqliteDatabase.open_unit``). Across
processes the database's own lock rules (``begin_immediate`` waits for it without blocking
the loop).

A read unit of work runs each statement on its own, on SQLite's reader connection or a pooled
PostgreSQL connection: each sees what was committed when it ran (as READ COMMITTED would), and
no ``BEGIN``/``COMMIT`` is paid for (two round trips on PostgreSQL). No reader spans an
``await`` that could let a long-lived read transaction pin an old snapshot.

Leaving without ``commit`` rolls back. After ``commit`` it may go on: the next statement begins
a new transaction, which leaving again rolls back unless committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from types import TracebackType
from typing import TYPE_CHECKING, Any

from switchboard.adapters.storage.call_repository import SqlCallRepository
from switchboard.adapters.storage.database import Database, PostgresDatabase, SqliteDatabase
from switchboard.adapters.storage.errors import raise_translated, translated
from switchboard.adapters.storage.event_log import SqlEventLog
from switchboard.adapters.storage.limits import SqlIdempotencyKeys, SqlRateBuckets
from switchboard.adapters.storage.repositories import (
    SqlAccountRepository,
    SqlAgentRepository,
    SqlGroupRepository,
    SqlNodeRepository,
    SqlSettingsRepository,
)
from switchboard.adapters.storage.transaction import (
    PostgresTransaction,
    SqliteTransaction,
    Transaction,
)
from switchboard.adapters.storage.webhook_repository import SqlWebhookRepository
from switchboard.domain.events import Event
from switchboard.service.ports import (
    AccountRepository,
    AgentRepository,
    CallRepository,
    EventLog,
    GroupRepository,
    IdempotencyKeys,
    NodeRepository,
    RateBuckets,
    SettingsRepository,
    WebhookRepository,
)

if TYPE_CHECKING:
    from switchboard.service.ports import UnitOfWork, UnitOfWorkFactory


class _SqliteWriter(SqliteTransaction):
    """A unit of work in the process's batch (``SqliteDatabase.open_unit``); after a commit,
    the next statement opens a new unit."""

    def __init__(self, database: SqliteDatabase, connection: sqlite3.Connection) -> None:
        super().__init__(connection, write=True)
        self._database = database
        self.open = True

    async def _ensure(self) -> None:
        if not self.open:
            await self._database.open_unit()
            self.open = True

    async def commit(self) -> None:
        if not self.open:
            return
        self.open = False
        batch = self._database.close_unit(keep=True)
        if batch is not None:
            # Shielded: a request that goes away does not take the batch down with it.
            await asyncio.shield(batch)

    def roll_back(self) -> None:
        if self.open:
            self.open = False
            self._database.close_unit(keep=False)


class _PostgresWriter(PostgresTransaction):
    async def _ensure(self) -> None:
        try:
            # Asked of a connection the server has ended (say, a session paused in its
            # transaction past idle_in_transaction_session_timeout), the driver raises too.
            if not self._connection.is_in_transaction():
                await self._connection.execute("BEGIN")
        except Exception as exc:
            raise_translated("begin a transaction", exc)


class SqlUnitOfWork:
    accounts: AccountRepository
    agents: AgentRepository
    groups: GroupRepository
    calls: CallRepository
    settings: SettingsRepository
    nodes: NodeRepository
    outbox: EventLog
    idempotency: IdempotencyKeys
    buckets: RateBuckets
    webhooks: WebhookRepository

    def __init__(self, database: Database, *, write: bool) -> None:
        self._database = database
        self._write = write
        self._entered = False
        self._tx: Transaction | None = None
        self._pg_connection: Any = None
        self.events: list[Event] = []
        self.committed: list[Event] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._entered:
            raise RuntimeError("a unit of work is entered once")
        self._entered = True
        database = self._database
        if isinstance(database, SqliteDatabase):
            self._tx = await self._enter_sqlite(database)
        else:
            self._tx = await self._enter_postgres(database)
        tx = self._tx
        self.accounts = SqlAccountRepository(tx, self._database.accounts)
        self.agents = SqlAgentRepository(tx)
        self.groups = SqlGroupRepository(tx)
        self.calls = SqlCallRepository(tx)
        self.settings = SqlSettingsRepository(tx)
        self.nodes = SqlNodeRepository(tx)
        self.outbox = SqlEventLog(tx)
        self.idempotency = SqlIdempotencyKeys(tx)
        self.buckets = SqlRateBuckets(tx)
        self.webhooks = SqlWebhookRepository(tx)
        return self

    async def _enter_sqlite(self, database: SqliteDatabase) -> Transaction:
        if not self._write:
            return SqliteTransaction(database.reader(), write=False)
        return _SqliteWriter(database, await database.open_unit())

    async def _enter_postgres(self, database: PostgresDatabase) -> Transaction:
        pool = await database.pool()
        with translated("open a transaction"):
            connection = await pool.acquire()
        try:
            if self._write:
                with translated("open a transaction"):
                    await connection.execute("BEGIN")
        except BaseException:
            await pool.release(connection)
            raise
        self._pg_connection = connection
        return (
            _PostgresWriter(connection, write=True)
            if self._write
            else PostgresTransaction(connection, write=False)
        )

    async def commit(self) -> None:
        tx = self._tx
        if tx is None:
            raise RuntimeError("commit outside the unit of work")
        # The outbox: the events go in with the changes they describe, or not at all.
        written = await self.outbox.append(self.events) if self.events else []
        if isinstance(tx, _SqliteWriter):
            await tx.commit()
        elif self._write:
            with translated("commit"):
                if self._pg_connection.is_in_transaction():
                    await self._pg_connection.execute("COMMIT")
        self.events.clear()
        self.committed.extend(written)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tx, self._tx = self._tx, None
        if tx is None:
            return
        database = self._database
        try:
            with translated("roll back"):
                if isinstance(database, SqliteDatabase):
                    self._leave_sqlite(database, tx)
                else:
                    await self._leave_postgres(database)
        except Exception:
            if exc is None:
                raise
            # The error already on its way out says more than a failed rollback.

    def _leave_sqlite(self, database: SqliteDatabase, tx: Transaction) -> None:
        if isinstance(tx, _SqliteWriter):
            tx.roll_back()

    async def _leave_postgres(self, database: PostgresDatabase) -> None:
        connection, self._pg_connection = self._pg_connection, None
        try:
            if connection.is_in_transaction():
                await connection.execute("ROLLBACK")
        finally:
            pool = await database.pool()
            await pool.release(connection)


class SqlUnitOfWorkFactory:
    """``factory(write=True)`` opens a unit of work; the database is the caller's to close."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.database, write=write)


if TYPE_CHECKING:

    def _conforms(factory: SqlUnitOfWorkFactory, uow: SqlUnitOfWork) -> None:
        _factory: UnitOfWorkFactory = factory
        _uow: UnitOfWork = uow
