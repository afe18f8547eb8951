from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.harness import (
    Harness,
    PostgresDatabase,
    close_harness,
    open_harness,
    postgres_url,
)


@pytest.fixture
async def sb(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await open_harness(tmp_path)
    try:
        yield harness
    finally:
        await close_harness(harness)


@pytest.fixture(params=["sqlite", "postgres"])
async def sb_any(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The same app over SQLite and, when a server is configured, PostgreSQL."""
    if request.param == "sqlite":
        harness = await open_harness(tmp_path)
        try:
            yield harness
        finally:
            await close_harness(harness)
        return
    database = PostgresDatabase(postgres_url())
    url = await database.create()
    try:
        harness = await open_harness(tmp_path, database_url=url)
        try:
            yield harness
        finally:
            await close_harness(harness)
    finally:
        await database.drop()
