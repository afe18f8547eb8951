"""Bringing a database to the newest schema, from code: no ``alembic.ini`` at run time.

Safe to run from several processes at once: on PostgreSQL the upgrade holds a transaction-level
advisory lock; on SQLite it runs in one ``BEGIN IMMEDIATE`` transaction. Either way the second
process waits, then finds the schema at head and does nothing. Both databases have
transactional DDL, so a failed upgrade leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.adapters.storage.engine import WRITER, create_engine
from switchboard.adapters.storage.errors import translated

MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x5357_4244  # "SWBD": one key for every Switchboard database


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(target: str | AsyncEngine) -> None:
    """Upgrade the database at ``target`` (a URL, or an engine the caller keeps) to head."""
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        with translated("migrate the database"):
            async with engine.connect() as connection:
                connection = await connection.execution_options(**{WRITER: True})
                async with connection.begin():
                    if connection.dialect.name == "postgresql":
                        await connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _ADVISORY_LOCK_KEY},
                        )
                    await connection.run_sync(_upgrade)
    finally:
        if engine is not target:
            await engine.dispose()
