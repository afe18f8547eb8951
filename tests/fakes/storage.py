"""An in-memory unit of work with the transaction rules of the SQL one.

Writers take turns, like SQLite's ``BEGIN IMMEDIATE``: a write unit of work holds the one
writer lock from entry to exit, works on a copy, and ``commit`` swaps the copy in. Readers work
on a snapshot taken at entry and never wait. Leaving without ``commit`` discards the copy.

A write unit of work opened inside another in the same task would wait on itself forever (on
SQLite, for the busy timeout), so it raises ``RuntimeError`` at once instead.
"""

from __future__ import annotations

import asyncio
import copy
from types import TracebackType

from switchboard.domain.events import Event
from switchboard.service.ports import (
    AccountRepository,
    AgentRepository,
    CallRepository,
    GroupRepository,
    SettingsRepository,
)
from tests.fakes.limits import FakeIdempotencyKeys, FakeRateBuckets
from tests.fakes.repositories import (
    FakeAccountRepository,
    FakeAgentRepository,
    FakeCallRepository,
    FakeData,
    FakeEventLog,
    FakeGroupRepository,
    FakeNodeRepository,
    FakeSession,
    FakeSettingsRepository,
)
from tests.fakes.webhooks import FakeWebhookRepository


class FakeDatabase:
    """What is committed, shared by every unit of work of one factory."""

    def __init__(self) -> None:
        self.data = FakeData()
        self.commits = 0
        self._writer_lock: asyncio.Lock | None = None
        self._writer: asyncio.Task[object] | None = None

    async def acquire_writer(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._writer:
            raise RuntimeError(
                "a write unit of work inside another in the same task would deadlock"
            )
        if self._writer_lock is None:
            self._writer_lock = asyncio.Lock()
        await self._writer_lock.acquire()
        self._writer = task

    def release_writer(self) -> None:
        assert self._writer_lock is not None
        self._writer = None
        self._writer_lock.release()


class FakeUnitOfWork:
    accounts: AccountRepository
    agents: AgentRepository
    groups: GroupRepository
    calls: CallRepository
    settings: SettingsRepository

    def __init__(self, database: FakeDatabase, *, write: bool) -> None:
        self._database = database
        self._write = write
        self._session: FakeSession | None = None
        self.events: list[Event] = []
        self.committed: list[Event] = []
        self.has_committed = False

    async def __aenter__(self) -> FakeUnitOfWork:
        if self._session is not None:
            raise RuntimeError("a unit of work is entered once")
        if self._write:
            await self._database.acquire_writer()
        session = FakeSession(copy.deepcopy(self._database.data), write=self._write)
        self._session = session
        self.accounts = FakeAccountRepository(session)
        self.agents = FakeAgentRepository(session)
        self.groups = FakeGroupRepository(session)
        self.calls = FakeCallRepository(session)
        self.settings = FakeSettingsRepository(session)
        self.nodes = FakeNodeRepository(session)
        self.outbox = FakeEventLog(session)
        self.idempotency = FakeIdempotencyKeys(session)
        self.buckets = FakeRateBuckets(session)
        self.webhooks = FakeWebhookRepository(session)
        return self

    async def commit(self) -> None:
        if self._session is None:
            raise RuntimeError("commit outside the unit of work")
        self.has_committed = True
        if not self._write:
            return
        # The outbox, as the SQL unit of work writes it: in the transaction being committed.
        written = await self.outbox.append(self.events) if self.events else []
        self._database.data = self._session.data
        self.events.clear()
        self.committed.extend(written)
        self._database.commits += 1
        self._session.data = copy.deepcopy(self._session.data)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None and self._write:
            self._database.release_writer()


class FakeUnitOfWorkFactory:
    """``factory(write=True)``; ``factory.database.data`` is what is committed, to inspect or
    to seed directly in a test's arrange step."""

    def __init__(self, database: FakeDatabase | None = None) -> None:
        self.database = database if database is not None else FakeDatabase()
        self.opened: list[FakeUnitOfWork] = []

    def __call__(self, *, write: bool = True) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self.database, write=write)
        self.opened.append(uow)
        return uow
