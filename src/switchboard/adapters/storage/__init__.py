"""Storage on SQLite or PostgreSQL: SQLAlchemy Core tables, repositories, a unit of work and
Alembic migrations. ``bootstrap`` builds the engine, migrates, and hands out the factory::

    engine = create_engine(settings.database_url)
    await migrate(engine)
    uow_factory = SqlUnitOfWorkFactory(engine)
    ...
    await engine.dispose()
"""

from switchboard.adapters.storage.engine import async_url, create_engine
from switchboard.adapters.storage.errors import ReadOnlyUnitOfWork, StorageUnavailable
from switchboard.adapters.storage.migrate import migrate
from switchboard.adapters.storage.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "ReadOnlyUnitOfWork",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "StorageUnavailable",
    "async_url",
    "create_engine",
    "migrate",
]
