"""Storage on SQLite or PostgreSQL: SQL repositories over the drivers themselves (``sqlite3``,
``asyncpg``), a unit of work, and Alembic migrations over SQLAlchemy Core tables.
``bootstrap`` opens the database, migrates it when it is behind (``migrate.migrate``, which
alone loads SQLAlchemy and Alembic), and hands out the factory::

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
from switchboard.adapters.storage.errors import ReadOnlyUnitOfWork, StorageUnavailable
from switchboard.adapters.storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "Database",
    "PostgresDatabase",
    "ReadOnlyUnitOfWork",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "SqliteDatabase",
    "StorageUnavailable",
    "open_database",
]
