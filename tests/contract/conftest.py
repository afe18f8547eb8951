"""Backends for the storage contract suite: the fake, SQLite, and PostgreSQL when
``SWITCHBOARD_TEST_POSTGRES_URL`` names a server (each test gets a schema of its own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.adapters.storage import Database, SqlUnitOfWorkFactory, open_database
from switchboard.adapters.storage.engine import create_engine
from switchboard.adapters.storage.migrate import migrate
from switchboard.service.ports import UnitOfWorkFactory
from tests.fakes import FakeUnitOfWorkFactory
from tests.support.harness import postgres_url


@dataclass
class Backend:
    """One storage implementation under test, already migrated and empty."""

    name: str
    uow: UnitOfWorkFactory
    url: str | None = None
    engine_options: dict[str, Any] = field(default_factory=dict)
    engines: list[AsyncEngine] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)

    @property
    def is_sql(self) -> bool:
        return self.url is not None

    def new_engine(self) -> AsyncEngine:
        """Another engine on the same database, as a second server process would have."""
        assert self.url is not None, "the fake has no engine"
        engine = create_engine(self.url, **self.engine_options)
        self.engines.append(engine)
        return engine

    def new_database(self) -> Database:
        """The unit of work's own connections to the same database, as a second server
        process would have them."""
        assert self.url is not None, "the fake has no database"
        server_settings = self.engine_options.get("connect_args", {}).get("server_settings")
        database = open_database(self.url, server_settings=server_settings)
        self.databases.append(database)
        return database

    async def dispose(self) -> None:
        for database in self.databases:
            await database.close()
        for engine in self.engines:
            await engine.dispose()


class PostgresSchema:
    """A schema of its own for one test, dropped afterwards."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"switchboard_test_{uuid.uuid4().hex[:12]}"
        self.engine_options: dict[str, Any] = {
            "connect_args": {"server_settings": {"search_path": self.name}}
        }

    async def _run(self, statement: str) -> None:
        admin = create_engine(self.url)
        try:
            async with admin.begin() as connection:
                await connection.execute(text(statement))
        finally:
            await admin.dispose()

    async def create(self) -> None:
        await self._run(f'CREATE SCHEMA "{self.name}"')

    async def drop(self) -> None:
        await self._run(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'switchboard.db'}"


@pytest.fixture
async def postgres_schema() -> AsyncIterator[PostgresSchema]:
    schema = PostgresSchema(postgres_url())
    await schema.create()
    try:
        yield schema
    finally:
        await schema.drop()


@asynccontextmanager
async def _sql_backend(kind: str, tmp_path: Path) -> AsyncIterator[Backend]:
    schema = None
    if kind == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'switchboard.db'}", {}
    else:
        schema = PostgresSchema(postgres_url())
        await schema.create()
        url, options = schema.url, schema.engine_options
    backend = Backend(kind, uow=FakeUnitOfWorkFactory(), url=url, engine_options=options)
    try:
        await migrate(backend.new_engine())
        backend.uow = SqlUnitOfWorkFactory(backend.new_database())
        yield backend
    finally:
        await backend.dispose()
        if schema is not None:
            await schema.drop()


_POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


@pytest.fixture(params=["fake", "sqlite", _POSTGRES])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        yield Backend("fake", uow=FakeUnitOfWorkFactory())
        return
    async with _sql_backend(request.param, tmp_path) as sql:
        yield sql


@pytest.fixture(params=["sqlite", _POSTGRES])
async def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with _sql_backend(request.param, tmp_path) as sql:
        yield sql
