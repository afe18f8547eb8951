"""What a database URL names, read without SQLAlchemy (which one-shot commands need not load).

The forms are those ``engine.async_url`` accepts: ``sqlite:///rel.db``, ``sqlite:////abs.db``
(with an optional ``+pysqlite``/``+aiosqlite`` driver), and ``postgresql://`` or
``postgres://`` (with an optional driver), passed to asyncpg as a ``postgresql://`` DSN.
"""

from __future__ import annotations

_SQLITE_DRIVERS = {"", "pysqlite", "aiosqlite"}
_POSTGRES_DRIVERS = {"", "asyncpg", "psycopg", "psycopg2"}


def parse_database_url(url: str) -> tuple[str, str]:
    """``("sqlite", path)`` or ``("postgresql", dsn)``; ``ValueError`` for anything else."""
    scheme, sep, rest = url.partition("://")
    dialect, _, driver = scheme.partition("+")
    if not sep or not dialect:
        raise ValueError(f"not a database URL: {url!r}")
    if dialect == "sqlite" and driver in _SQLITE_DRIVERS:
        path, _, query = rest.partition("?")
        path = path[1:] if path.startswith("/") else path
        if path in ("", ":memory:") or "mode=memory" in query:
            raise ValueError("an in-memory SQLite database cannot be shared; give a file path")
        return "sqlite", path
    if dialect in ("postgres", "postgresql") and driver in _POSTGRES_DRIVERS:
        return "postgresql", f"postgresql://{rest}"
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}; expected sqlite:///PATH or postgresql://..."
    )
