"""Alembic's entry point. ``switchboard.adapters.storage.migrate`` passes an open connection in
``config.attributes["connection"]``; developers running ``alembic`` by hand (for example
``revision --autogenerate``) set ``sqlalchemy.url`` instead."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from switchboard.adapters.storage.engine import create_engine
from switchboard.adapters.storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run migrations through switchboard's migrate()")
    asyncio.run(_run_with_url(url))


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
_main()
