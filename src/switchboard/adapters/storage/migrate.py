"""Bringing a database to the newest schema, from code: no ``alembic.ini`` at run time.

Safe to run from several processes at once: on PostgreSQL the upgrade holds a transaction-level
advisory lock; on SQLite it runs in one ``BEGIN IMMEDIATE`` transaction. Either way the second
process waits, then finds the schema at head and does nothing. Both databases have
transactional DDL, so a failed upgrade leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.adapters.storage.database import make_private
from switchboard.adapters.storage.engine import WRITER, create_engine
from switchboard.adapters.storage.errors import translated
from switchboard.adapters.storage.urls import parse_database_url

MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x5357_4244  # "SWBD": one key for every Switchboard database


# Given the access-token signing key an older version kept in the database, this takes it
# out (into the key file): migration 0003 calls it, then deletes the key from the database.
KeyOutOfDatabase = Callable[[str], None]


def alembic_config(
    connection: Connection | None = None, key_out: KeyOutOfDatabase | None = None
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    config.attributes["signing_key_out_of_database"] = key_out
    return config


async def migrate(target: str | AsyncEngine, *, key_out: KeyOutOfDatabase | None = None) -> None:
    """Upgrade the database at ``target`` (a URL, or an engine the caller keeps) to head.
    ``key_out``: where a signing key found in the database goes (migration 0003); without
    it, a database holding one is not upgraded."""
    if isinstance(target, str):
        dialect, path = parse_database_url(target)
        if dialect == "sqlite" and Path(path).parent.is_dir():
            make_private(path)  # before SQLAlchemy creates it world-readable

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection, key_out), "head")

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
