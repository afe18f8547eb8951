"""The connections the unit of work runs on, driven directly (no ORM or thread hop per statement).

SQLite: Python's ``sqlite3`` on the event loop's own thread, in WAL mode with
``synchronous=NORMAL``. One writer connection and one reader connection per process. A
statement on an indexed table costs a few microseconds in SQLite's C code, less than the hop
to a worker thread that aiosqlite made for every statement (about 100 µs), so the loop runs
them itself. What could block the loop is a lock held by *another* process: the writer's busy
timeout is therefore zero, and ``BEGIN IMMEDIATE`` that finds the database locked is retried
from the loop with short sleeps until ``busy_timeout_s`` has passed (then
``StorageUnavailable``). In WAL, readers never wait for the writer. ``synchronous=NORMAL`` in
WAL keeps every committed transaction across a crash of the process (the WAL is written
before ``COMMIT`` returns); only a power failure or kernel crash can lose the last
transactions. ``SWITCHBOARD_SQLITE_SYNCHRONOUS=full`` trades throughput for that too.

PostgreSQL: an ``asyncpg`` pool at READ COMMITTED; asyncpg prepares each statement once per
connection and reuses it.

SQL is written once, with ``?`` placeholders; :class:`Sql` renders it for each dialect
(``$1``... for asyncpg). ``IN_LIST(?)`` takes one list parameter (``json_each`` on SQLite,
``= ANY`` on PostgreSQL), ``FOR_UPDATE`` locks rows on PostgreSQL only, and
``AGENT_NUMBER`` is the agent id as a number, and ``FENCE`` ends a subquery that PostgreSQL
must plan on its own (``OFFSET 0``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from switchboard.adapters.storage.cache import AccountCache
from switchboard.adapters.storage.errors import translated
from switchboard.adapters.storage.urls import parse_database_url
from switchboard.domain.errors import StorageUnavailable

DEFAULT_BUSY_TIMEOUT_S = 30.0
# The schema this code reads and writes: the newest migration. A database already there is
# not migrated at start (sparing one-shot commands SQLAlchemy's and Alembic's import time);
# the contract suite checks that this is Alembic's head.
SCHEMA_HEAD = "0010"


def enable_wal(cursor: Any, busy_timeout_s: float) -> None:
    """``PRAGMA journal_mode = WAL``. Switching a new database's journal takes an exclusive
    lock and SQLite answers "database is locked" at once, without its busy handler, when
    another connection opens the file at the same moment (several processes starting on one
    new database): retried with short sleeps here, at connect, up to the busy timeout."""
    give_up = time.monotonic() + busy_timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= give_up:
                raise
            time.sleep(0.01)


def make_private(path: str) -> None:
    """Create the SQLite file owner-only (0600) if it is absent, and take group and other
    access away from it and its ``-wal`` and ``-shm`` where an earlier version left them
    (0644). SQLite gives the ``-wal`` and ``-shm`` files it creates the database file's mode,
    so a private database keeps them private. The database holds API token digests and every
    call; anyone who can read it learns them, and anyone who can write it can change them."""
    # Made here rather than by sqlite3.connect (0644 less the umask) or SQLAlchemy (the same).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        with contextlib.suppress(OSError):  # absent, or not ours to change
            mode = os.stat(name).st_mode
            if mode & 0o077:
                os.chmod(name, mode & 0o700)


_PLACEHOLDER = re.compile(r"\?")
# An agent id as a number, for ordering (ids are 1 to 11 ASCII digits); the migration that
# indexes it spells it the same way.
SQLITE_AGENT_NUMBER = "CAST(agent_id AS INTEGER)"
POSTGRES_AGENT_NUMBER = "CAST(agent_id AS BIGINT)"


class Sql:
    """One statement, rendered for SQLite and for PostgreSQL."""

    __slots__ = ("postgres", "sqlite")

    def __init__(self, text: str) -> None:
        text = " ".join(text.split())
        self.sqlite = (
            text.replace("IN_LIST(?)", "IN (SELECT value FROM json_each(?))")
            .replace(" FOR_UPDATE", "")
            .replace("AGENT_NUMBER", SQLITE_AGENT_NUMBER)
            .replace(" FENCE", "")
        )
        pg = (
            text.replace("IN_LIST(?)", "= ANY(?)")
            .replace(" FOR_UPDATE", " FOR UPDATE")
            .replace("AGENT_NUMBER", POSTGRES_AGENT_NUMBER)
            .replace(" FENCE", " OFFSET 0")
        )
        counter = iter(range(1, 1000))
        self.postgres = _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", pg)

    def __repr__(self) -> str:
        return f"Sql({self.sqlite!r})"


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._synchronous = synchronous
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        # Writers of this process queue here rather than on SQLite's lock.
        self.writer_lock = asyncio.Lock()
        # The open batch: its transaction's commit resolves this future (group commit).
        self._batch: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # batches committed: for tests and benchmarks
        self.accounts = AccountCache()

    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        if not Path(self.path).parent.is_dir():
            raise sqlite3.OperationalError(f"unable to open database file {self.path!r}")
        make_private(self.path)
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        connection.execute(f"PRAGMA busy_timeout = {busy_ms}")
        enable_wal(connection, self.busy_timeout_s)
        connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            with translated("open the database"):
                # Zero: a lock held by another process is waited for from the loop (``begin``).
                self._writer = self._connect(0)
        return self._writer

    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            with translated("open the database"):
                # Readers wait only in rare moments (WAL recovery): a short wait is fine.
                self._reader = self._connect(1000)
        return self._reader

    async def begin_immediate(self, connection: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, waiting for another process's write lock without blocking."""
        give_up = time.monotonic() + self.busy_timeout_s
        pause = 0.0005
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= give_up:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.01)

    # Group commit. A write unit of work is a savepoint inside the batch's transaction; its
    # ``commit`` releases the savepoint and waits for the batch, which one task commits once
    # the units queued before it have run. Units of one loop iteration thus share one COMMIT
    # (the costly part: writing the WAL), and none is acknowledged before its batch is
    # durable. A unit that fails rolls back to its savepoint and leaves the batch unharmed.

    async def open_unit(self) -> sqlite3.Connection:
        """The writer lock, the batch's transaction (begun if none is open), a savepoint."""
        await self.writer_lock.acquire()
        try:
            connection = self.writer()
            with translated("open a transaction"):
                if self._batch is None or not connection.in_transaction:
                    if connection.in_transaction:  # a batch lost to an error: start afresh
                        connection.execute("ROLLBACK")
                    await self.begin_immediate(connection)
                    loop = asyncio.get_running_loop()
                    self._batch = loop.create_future()
                    self._batch.add_done_callback(_retrieve)
                    self._flusher = loop.create_task(self._flush())
                connection.execute("SAVEPOINT unit")
        except BaseException:
            self.writer_lock.release()
            raise
        return connection

    def close_unit(self, *, keep: bool) -> asyncio.Future[None] | None:
        """End the unit's savepoint, keeping its changes for the batch (returns the future its
        commit resolves) or undoing them; releases the writer lock."""
        connection = self.writer()
        try:
            with translated("end a unit of work"):
                if not connection.in_transaction:
                    # SQLite rolled the whole transaction back (an I/O error, a full disk):
                    # the units already released in this batch are lost with it.
                    self._fail_batch(sqlite3.OperationalError("the transaction was rolled back"))
                    return None
                if not keep:
                    connection.execute("ROLLBACK TO unit")
                connection.execute("RELEASE unit")
            return self._batch if keep else None
        finally:
            self.writer_lock.release()

    def _fail_batch(self, cause: Exception) -> None:
        batch, self._batch = self._batch, None
        if batch is not None and not batch.done():
            error = StorageUnavailable(f"commit: the database is unavailable: {cause}")
            error.__cause__ = cause
            batch.set_exception(error)

    async def _flush(self) -> None:
        async with self.writer_lock:
            batch, self._batch = self._batch, None
            if batch is None or batch.done():
                return
            connection = self.writer()
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                self._batch = batch
                self._fail_batch(exc)
                return
            self.commits += 1
            batch.set_result(None)

    def _exists(self) -> bool:
        return Path(self.path).exists()

    def empty_wal(self) -> None:
        """Copy the WAL into the database and truncate it: older versions of pages (a
        deleted secret) leave the disk with it. Best effort: a reader in another process
        can hold the WAL, and the next checkpoint that finds none truncates it."""
        with translated("checkpoint the database"):
            self.writer().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def make_private(self) -> None:
        """``make_private`` on this database's files (where its directory exists)."""
        if Path(self.path).parent.is_dir():
            with translated("open the database"):
                make_private(self.path)

    async def schema_version(self) -> str | None:
        """The Alembic revision the database is at; ``None`` for a new or foreign file."""
        if not self._exists():
            return None
        try:
            row = self.reader().execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else str(row[0])

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        for connection in (self._writer, self._reader):
            if connection is not None:
                connection.close()
        self._writer = self._reader = None


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        server_settings: dict[str, str] | None = None,
        min_size: int = 2,
        max_size: int = 10,
        command_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        self.dsn = dsn
        self._server_settings = server_settings or {}
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = command_timeout_s
        self._pool: Any = None
        self.accounts = AccountCache()
        self._opening: asyncio.Lock | None = None

    async def pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                import asyncpg

                with translated("connect to the database"):
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        reset=_keep_session,
                        min_size=self._min_size,
                        max_size=self._max_size,
                        command_timeout=self._timeout,
                        server_settings=self._server_settings,
                    )
        return self._pool

    async def schema_version(self) -> str | None:
        """The Alembic revision the database is at; ``None`` where it has none yet."""
        pool = await self.pool()
        with translated("read the schema version"):
            async with pool.acquire() as connection:
                exists = await connection.fetchval("SELECT to_regclass('alembic_version')")
                if exists is None:
                    return None
                value = await connection.fetchval("SELECT version_num FROM alembic_version")
        return None if value is None else str(value)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


Database = SqliteDatabase | PostgresDatabase


def open_database(
    url: str,
    *,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    server_settings: dict[str, str] | None = None,
    pool_size: int = 10,
    sqlite_synchronous: str = "NORMAL",
) -> Database:
    """The database at ``url`` (as ``create_engine`` takes it); nothing connects until used.
    The caller owns it and must ``await database.close()``."""
    dialect, target = parse_database_url(url)
    if dialect == "sqlite":
        return SqliteDatabase(target, busy_timeout_s=busy_timeout_s, synchronous=sqlite_synchronous)
    dsn = target
    return PostgresDatabase(
        dsn,
        server_settings=server_settings,
        max_size=pool_size,
        min_size=min(2, pool_size),
        command_timeout_s=busy_timeout_s,
    )


def _retrieve(batch: asyncio.Future[None]) -> None:
    """A batch whose units all rolled back has no waiter; its failure is not news."""
    if not batch.cancelled():
        batch.exception()


async def _keep_session(connection: Any) -> None:
    """Released connections keep their session: asyncpg's default reset costs a round trip
    (``RESET ALL``, ``UNLISTEN *``...) at every release, and the unit of work changes no
    session state (it ends every transaction it begins, and sets nothing)."""
