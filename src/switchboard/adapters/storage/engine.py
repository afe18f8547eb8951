"""Building the ``AsyncEngine`` from the configured SQLAlchemy URL.

SQLite (``sqlite:///rel.db``, ``sqlite:////abs.db``) runs through aiosqlite in WAL mode with a
busy timeout and foreign keys on. Python's sqlite3 would open a *deferred* transaction and
upgrade it to a write lock at the first write; two writers doing that at once make one fail
with SQLITE_BUSY at once, whatever the busy timeout. So the driver's own transaction handling
is turned off and the ``begin`` event emits ``BEGIN IMMEDIATE`` for connections marked as
writers (``WRITER`` execution option): writers queue on the busy timeout instead, and readers,
in WAL, never wait.

PostgreSQL (``postgresql://``) runs through asyncpg at READ COMMITTED; the conditional UPDATEs
of the repositories are what make reservations atomic there.

Known hole: ``:memory:`` databases are refused, since a pool of one shared connection cannot
hold concurrent transactions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from switchboard.adapters.storage.database import DEFAULT_BUSY_TIMEOUT_S, enable_wal

WRITER = "switchboard_writer"
"""Execution option marking a connection whose transactions write (``BEGIN IMMEDIATE``)."""


_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_POSTGRES_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
}


def async_url(url: str) -> URL:
    """The URL with its async driver: ``sqlite+aiosqlite`` or ``postgresql+asyncpg``."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc
    if parsed.drivername in _SQLITE_DRIVERS:
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed.query):
            raise ValueError("an in-memory SQLite database cannot be shared; give a file path")
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}; "
        "expected sqlite:///PATH or postgresql://..."
    )


def create_engine(
    url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, **options: Any
) -> AsyncEngine:
    """An engine for ``url``; ``options`` go to ``create_async_engine`` (``pool_size``...).

    The caller owns it and must ``await engine.dispose()``.
    """
    target = async_url(url)
    if target.drivername.startswith("sqlite"):
        connect_args = {"timeout": busy_timeout_s, **options.pop("connect_args", {})}
        engine = create_async_engine(target, connect_args=connect_args, **options)
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(target, **options)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_s: float) -> None:
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver: ``_on_begin`` emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            enable_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writer = connection.get_execution_options().get(WRITER, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
