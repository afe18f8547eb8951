"""Storage on SQLite or PostgreSQL: SQL repositories over the drivers themselves (``sqlite3``,
``asyncpg``), a unit of work, and Alembic migrations over SQLAlchemy Core tables.
``bootstrap`` migrates, opens the database, and hands out the factory::

    await migrate(settings.database_url)
    database = open_database(settings.database_url)
    uow_factory = SqlUnitOfWorkFactory(database)
    ...
    await database.close()
"""

from switchboard.adapters.storage.database import (
    Database,
    PostgresDatabase,
    SqliteDatabase,
    open_database,
)
from switchboard.adapters.storage.engine import async_url, create_engine
from switchboard.adapters.storage.errors import ReadOnlyUnitOfWork, StorageUnavailable
from switchboard.adapters.storage.migrate import migrate
from switchboard.adapters.storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "Database",
    "PostgresDatabase",
    "ReadOnlyUnitOfWork",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "SqliteDatabase",
    "StorageUnavailable",
    "async_url",
    "create_engine",
    "migrate",
    "open_database",
]
