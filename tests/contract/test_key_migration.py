"""Migration 0003: the signing key an older version kept in the database leaves it, on SQLite
and PostgreSQL, and the tokens it signed keep working."""

from __future__ import annotations

import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.adapters.storage.database import SCHEMA_HEAD
from switchboard.adapters.storage.engine import create_engine
from switchboard.adapters.storage.migrate import alembic_config, migrate
from switchboard.bootstrap import build
from switchboard.config import load_settings
from tests.support.harness import PostgresDatabase, postgres_url

OLD_SECRET = "stored-in-the-database-by-an-older-version-" + "k" * 20


@dataclass
class OldDatabase:
    """A database as version 0002 left it: the signing key in ``settings``, in clear."""

    url: str

    def engine(self) -> AsyncEngine:
        return create_engine(self.url)

    async def run(self, statement: str) -> list[Any]:
        engine = self.engine()
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement))
                return list(result.fetchall()) if result.returns_rows else []
        finally:
            await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def old_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OldDatabase]:
    server = None
    if request.param == "sqlite":
        database = OldDatabase(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        server = PostgresDatabase(postgres_url())
        database = OldDatabase(await server.create())
    engine = database.engine()
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "0002"))
        await database.run(
            f"INSERT INTO settings (name, value) VALUES ('secret_key', '{OLD_SECRET}')"
        )
        yield database
    finally:
        await engine.dispose()
        if server is not None:
            await server.drop()


async def test_the_migration_hands_the_key_out_and_deletes_it(old_database: OldDatabase) -> None:
    taken: list[str] = []
    engine = old_database.engine()
    try:
        await migrate(engine, key_out=taken.append)
    finally:
        await engine.dispose()
    assert taken == [OLD_SECRET]
    assert await old_database.run("SELECT name FROM settings") == []
    assert await old_database.run("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]


async def test_without_a_place_for_the_key_the_database_is_left_as_it_was(
    old_database: OldDatabase,
) -> None:
    engine = old_database.engine()
    try:
        with pytest.raises(RuntimeError, match="signing key"):
            await migrate(engine)
    finally:
        await engine.dispose()
    assert await old_database.run("SELECT value FROM settings") == [(OLD_SECRET,)]
    assert await old_database.run("SELECT version_num FROM alembic_version") == [("0002",)]


async def test_starting_on_an_old_database_moves_the_key_to_its_file_and_old_tokens_work(
    old_database: OldDatabase, tmp_path: Path
) -> None:
    issued_before = jwt.encode(
        {"iss": "switchboard", "sub": "acme", "gen": 1, "exp": int(time.time()) + 600},
        OLD_SECRET,
        algorithm="HS256",
    )
    key_file = tmp_path / "moved.key"
    settings = load_settings(database_url=old_database.url, secret_key_file=str(key_file))
    runtime = await build(settings, open_engine=False)
    try:
        assert runtime.ctx.tokens.verify(issued_before, runtime.ctx.clock.now()) == ("acme", 1)
        assert runtime.ctx.tokens.issue("acme", 1, runtime.ctx.clock.now())
    finally:
        await runtime.close()
    assert OLD_SECRET in key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert await old_database.run("SELECT name FROM settings") == []
    if old_database.url.startswith("sqlite"):
        path = Path(old_database.url.removeprefix("sqlite:///"))
        for name in (path, Path(f"{path}-wal")):
            if name.exists():
                assert OLD_SECRET.encode() not in name.read_bytes()
