"""How database failures reach the service: as our errors, with the driver's error as cause.

    SwitchboardError
    ├── StorageUnavailable           the database could not be reached or did not answer
    │                                in time (connection refused, lock wait exceeded); retryable
    ├── UnstorableValue              a text parameter the database cannot keep: a lone
    │                                surrogate (both drivers refuse to encode it), a NUL
    │                                (PostgreSQL's text type has none); the client's 400
    └── ProvisioningError
        ├── AlreadyExists            a unique key is taken
        └── UnknownEntity            a row refers to an account or agent that does not exist

``ReadOnlyUnitOfWork`` is a programming error, not a ``SwitchboardError``: a write through a
unit of work opened with ``write=False``. On SQLite such a write would upgrade a deferred
transaction and fail at random under contention, so it is refused every time instead.

Known hole: on PostgreSQL a statement that fails (``UnknownEntity`` from a foreign key) aborts
the transaction; the unit of work must then be abandoned. Duplicates never abort it, because
inserts use ``ON CONFLICT DO NOTHING`` and report ``AlreadyExists`` from the row count.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from switchboard.domain.errors import (
    AlreadyExists,
    StorageUnavailable,
    UnknownEntity,
    UnstorableValue,
)

__all__ = ["ReadOnlyUnitOfWork", "StorageUnavailable", "UnstorableValue", "translated"]


class ReadOnlyUnitOfWork(RuntimeError):
    def __init__(self, operation: str) -> None:
        super().__init__(f"{operation} needs a unit of work opened with write=True")


_FOREIGN_KEY_STATE = "23503"
_UNIQUE_STATE = "23505"
# PostgreSQL's refusals of a text value: a character the encoding has not (a NUL is one),
# and one it cannot translate.
_UNSTORABLE_STATES = frozenset({"22021", "22P05"})


def _is_asyncpg_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("asyncpg")


def _sqlalchemy_error(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is SQLAlchemy's ``name`` error, without importing SQLAlchemy (one-shot
    commands don't load it; if it raised, it is loaded)."""
    module = sys.modules.get("sqlalchemy.exc")
    return module is not None and isinstance(exc, getattr(module, name))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a database operation; any failure leaves as one of our errors, keeping the cause.

    Covers SQLAlchemy (migrations), ``sqlite3`` and ``asyncpg`` (the unit of work)."""
    try:
        yield
    except Exception as exc:
        raise_translated(what, exc)


def raise_translated(what: str, exc: Exception) -> NoReturn:
    """``translated`` as a function, for the statements of the hot path (a ``try`` costs
    nothing until it fails; a context manager costs a generator every time)."""
    if _is_unstorable(exc):
        raise UnstorableValue(
            f"{what}: the database cannot store a value: {_driver_text(exc)}"
        ) from exc
    if isinstance(exc, sqlite3.IntegrityError) or _sqlalchemy_error(exc, "IntegrityError"):
        _raise_integrity(what, exc)
    if isinstance(exc, sqlite3.Error | OSError) or _sqlalchemy_error(exc, "SQLAlchemyError"):
        raise StorageUnavailable(
            f"{what}: the database is unavailable: {_driver_text(exc)}"
        ) from exc
    if not _is_asyncpg_error(exc):
        raise exc
    state = getattr(exc, "sqlstate", None) or ""
    if state.startswith("23"):
        _raise_integrity(what, exc)
    raise StorageUnavailable(f"{what}: the database is unavailable: {_driver_text(exc)}") from exc


def _is_unstorable(exc: BaseException) -> bool:
    """A text the driver would not encode (sqlite3 raises ``UnicodeEncodeError`` itself;
    asyncpg wraps it in a ``DataError``), or one PostgreSQL refused."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, UnicodeEncodeError) or isinstance(orig.__cause__, UnicodeEncodeError):
        return True
    return _is_asyncpg_error(orig) and getattr(orig, "sqlstate", None) in _UNSTORABLE_STATES


def _raise_integrity(what: str, exc: BaseException) -> NoReturn:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).lower()
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state == _FOREIGN_KEY_STATE or "foreign key" in text:
        raise UnknownEntity(f"{what}: refers to an unknown account or agent") from exc
    if state == _UNIQUE_STATE or "unique" in text:
        raise AlreadyExists(f"{what}: already exists") from exc
    raise StorageUnavailable(f"{what}: the database refused the change") from exc


def _driver_text(exc: BaseException) -> str:
    """The driver's own words, first line only: the operator's clue (the API shows clients a
    generic text for any 5xx)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return lines[0][:200]
