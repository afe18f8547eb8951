"""The SQL outbox (``EventLog``): events written in the unit of work's transaction.

Each event is a row: the fields every event has in columns, its own fields as JSON (``data``).
The database numbers the positions (SQLite's rowid, PostgreSQL's identity sequence, drawn
under a lock per account on PostgreSQL); a call's sequence goes on from the last written,
read once per call whose events began in an earlier transaction (a placement's are the
first). The rows go in with one ``executemany``: on the hot path a placement's two events
cost one statement.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.database import Sql
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.events import (
    EVENT_TYPES,
    CallEvent,
    CallPlaced,
    Event,
    LoggedEvent,
)

log = logging.getLogger(__name__)

_COLUMNS = "account_key, position, id, type, call_id, sequence, occurred_at, data"
# What is a column of its own, not part of ``data``.
_IN_COLUMNS = frozenset({"account_key", "at", "id", "call_id", "sequence"})

# PostgreSQL: a transaction-level lock per account, taken before the positions are drawn and
# held until the commit, so that one account's positions come in commit order (a reader
# after N never misses a later commit with a lower number). The two-key form, whose space
# is apart from the one-key lock of ``migrate``.
_LOCK_KEY = 0x5357_4244
_LOCK_ACCOUNT = Sql("SELECT pg_advisory_xact_lock(?, hashtext(?))")
_INSERT = Sql(
    "INSERT INTO events (account_key, id, type, call_id, sequence, occurred_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_LAST_SEQUENCE = Sql("SELECT MAX(sequence) FROM events WHERE call_id = ?")
_AFTER = Sql(
    f"SELECT {_COLUMNS} FROM events WHERE account_key = ? AND position > ? "
    "ORDER BY position LIMIT ?"
)
_OF_CALL = Sql(
    f"SELECT {_COLUMNS} FROM events WHERE call_id = ? AND account_key = ? ORDER BY sequence"
)
_LAST_POSITION = Sql("SELECT MAX(position) FROM events WHERE account_key = ?")
# Positions grow with time: everything before the first event young enough goes, found by
# walking the oldest rows in position order (those about to go). The newest event always
# stays, so that SQLite never gives its rowid out again (a cursor would skip what follows).
_PURGE_BOUND = Sql(
    "SELECT COALESCE("
    "(SELECT position FROM events WHERE occurred_at >= ? ORDER BY position LIMIT 1), "
    "(SELECT MAX(position) FROM events))"
)
# Before they go, each account's highest position among them is kept: a reader whose cursor
# is behind it has missed events (``purged_through``).
_RECORD_PURGE = Sql(
    "INSERT INTO event_purges (account_key, purged_through) "
    "SELECT account_key, MAX(position) FROM events WHERE position < ? GROUP BY account_key "
    "ON CONFLICT (account_key) DO UPDATE SET purged_through = excluded.purged_through "
    "WHERE excluded.purged_through > event_purges.purged_through"
)
_PURGE = Sql("DELETE FROM events WHERE position < ?")
_PURGED_THROUGH = Sql("SELECT purged_through FROM event_purges WHERE account_key = ?")


# Per kind of event, the names of the fields that go into ``data``.
_DATA_FIELDS: dict[type[Event], tuple[str, ...]] = {
    kind: tuple(f.name for f in dataclasses.fields(kind) if f.name not in _IN_COLUMNS)
    for kind in EVENT_TYPES.values()
}


def _data(event: Event) -> str:
    names = _DATA_FIELDS.get(type(event))
    if names is None:  # a kind outside the catalogue (a test's): read its fields
        names = tuple(f.name for f in dataclasses.fields(event) if f.name not in _IN_COLUMNS)
    return orjson.dumps({name: getattr(event, name) for name in names}).decode()


def logged_row(row: rows.Row) -> LoggedEvent | None:
    account_key, position, event_id, kind, call_id, sequence, occurred_at, data = row
    cls = EVENT_TYPES.get(kind)
    if cls is None:  # written by a newer version: not ours to read
        log.debug("skipping an event of unknown type %r", kind)
        return None
    values: dict[str, Any] = orjson.loads(data)
    values.update(account_key=account_key, at=rows.time_of(occurred_at), id=event_id)
    if issubclass(cls, CallEvent):
        values.update(call_id=call_id, sequence=sequence)
    return LoggedEvent(int(position), cls(**values))


def _logged_all(found: Sequence[rows.Row]) -> builtins.list[LoggedEvent]:
    return [logged for row in found if (logged := logged_row(row)) is not None]


class SqlEventLog:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def append(self, events: Sequence[Event]) -> builtins.list[Event]:
        tx = self._tx
        written: list[Event] = []
        last_sequence: dict[str, int] = {}
        for event in events:
            if isinstance(event, CallEvent):
                sequence = last_sequence.get(event.call_id)
                if sequence is None:
                    # A call's first event is its placement: nothing to read before it.
                    sequence = 0 if isinstance(event, CallPlaced) else await self._last(event)
                sequence += 1
                last_sequence[event.call_id] = sequence
                # The storage's to fill in, once, as it writes the event (its ``sequence`` is
                # 0 until then): set in place, as ``dataclasses.replace`` costs several times
                # more on the hot path.
                object.__setattr__(event, "sequence", sequence)
            written.append(event)
        if tx.d.name != "sqlite":
            for key in sorted({event.account_key for event in written}):  # one lock order
                await tx.one("order the account's events", _LOCK_ACCOUNT, (_LOCK_KEY, key))
        time = tx.d.time
        values = [
            (
                event.account_key,
                event.id,
                event.type,
                getattr(event, "call_id", None),
                getattr(event, "sequence", None),
                time(event.at),
                _data(event),
            )
            for event in written
        ]
        await tx.run_many("write events", _INSERT, values)
        return written

    async def _last(self, event: CallEvent) -> int:
        row = await self._tx.one("number a call's events", _LAST_SEQUENCE, (event.call_id,))
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def after(
        self, account_key: str, position: int, limit: int
    ) -> builtins.list[LoggedEvent]:
        found = await self._tx.all("read events", _AFTER, (account_key, position, limit))
        return _logged_all(found)

    async def of_call(self, account_key: str, call_id: str) -> builtins.list[LoggedEvent]:
        found = await self._tx.all("read a call's events", _OF_CALL, (call_id, account_key))
        return _logged_all(found)

    async def last_position(self, account_key: str) -> int:
        row = await self._tx.one("read the last event position", _LAST_POSITION, (account_key,))
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def purge(self, before: datetime) -> int:
        row = await self._tx.one(
            "find the events to purge", _PURGE_BOUND, (self._tx.d.time(before),)
        )
        if row is None or row[0] is None:
            return 0
        bound = int(row[0])
        await self._tx.run("record the purge", _RECORD_PURGE, (bound,))
        return await self._tx.run("purge events", _PURGE, (bound,))

    async def purged_through(self, account_key: str) -> int:
        row = await self._tx.one("read the purged position", _PURGED_THROUGH, (account_key,))
        return int(row[0]) if row is not None else 0
