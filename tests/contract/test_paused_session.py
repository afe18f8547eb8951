"""A node paused (or cut off) inside a transaction must not hold its locks for ever: with
PostgreSQL the server ends a session left idle in a transaction after
``SWITCHBOARD_DATABASE_IDLE_IN_TRANSACTION_SECONDS`` (a third of the takeover time unless
set), so a successor's takeover, which writes the same rows and takes the same per-account
event lock, goes through. SQLite has no such bound (docs/operations.md)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from switchboard.bootstrap import build
from switchboard.config import load_settings
from switchboard.domain.errors import StorageUnavailable
from tests.support.harness import PostgresDatabase, postgres_url


def test_the_default_is_a_third_of_the_takeover_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().idle_in_transaction_seconds == 5
    monkeypatch.setenv("SWITCHBOARD_NODE_TAKEOVER_SECONDS", "30")
    assert load_settings().idle_in_transaction_seconds == 10
    monkeypatch.setenv("SWITCHBOARD_DATABASE_IDLE_IN_TRANSACTION_SECONDS", "0")
    assert load_settings().idle_in_transaction_seconds == 0  # no bound


async def test_a_session_paused_in_a_transaction_loses_it_and_its_locks() -> None:
    database = PostgresDatabase(postgres_url())
    url = await database.create()
    settings = load_settings(database_url=url, database_idle_in_transaction_seconds=0.5)
    paused = await build(settings, open_engine=False)
    successor = await build(settings, open_engine=False)
    try:
        pool = await paused.database.pool()  # type: ignore[union-attr]
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW idle_in_transaction_session_timeout") == "500ms"
            held = connection.transaction()
            await held.start()
            await connection.execute("SELECT pg_advisory_xact_lock(4242)")
            await asyncio.sleep(1.0)  # paused inside the transaction, past the bound
            other = await successor.database.pool()  # type: ignore[union-attr]
            async with other.acquire() as theirs, theirs.transaction():
                started = time.monotonic()
                await theirs.execute("SET LOCAL lock_timeout = '2s'")
                await theirs.execute("SELECT pg_advisory_xact_lock(4242)")  # not held up
                assert time.monotonic() - started < 1
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
                await connection.fetchval("SELECT 1")  # its session is gone
        # Through the unit of work the loss is the storage error callers expect (503, or a
        # signal "not stored"), not an unknown one.
        with pytest.raises(StorageUnavailable):
            async with paused.ctx.uow() as uow:
                await uow.accounts.get("nobody")
                await asyncio.sleep(1.0)
                await uow.accounts.get("nobody")
    finally:
        await paused.close()
        await successor.close()
        await database.drop()
