"""The SQL outbox (``EventLog``): events written in the unit of work's transaction.

Each event is a row: the fields every event has in columns, its own fields as JSON (``data``).
Numbering costs one statement per account in the transaction (the upsert of its last
position, which on PostgreSQL also holds that account's later commits back until this one is
done, so positions come in commit order) and one read per call whose events go on from an
earlier transaction (its last sequence, by ``ix_events_call_id_sequence``); the rows go in
with one ``executemany``.
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
from switchboard.domain.events import EVENT_TYPES, CallEvent, CallPlaced, Event, LoggedEvent

log = logging.getLogger(__name__)

_COLUMNS = "account_key, position, id, type, call_id, sequence, occurred_at, data"
# What is a column of its own, not part of ``data``.
_IN_COLUMNS = frozenset({"account_key", "at", "id", "call_id", "sequence"})

_ADVANCE = Sql(
    "INSERT INTO event_positions (account_key, position) VALUES (?, ?) "
    "ON CONFLICT (account_key) DO UPDATE SET position = event_positions.position + "
    "excluded.position RETURNING position"
)
_INSERT = Sql(f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_LAST_SEQUENCE = Sql("SELECT MAX(sequence) FROM events WHERE call_id = ?")
_AFTER = Sql(
    f"SELECT {_COLUMNS} FROM events WHERE account_key = ? AND position > ? "
    "ORDER BY position LIMIT ?"
)
_OF_CALL = Sql(
    f"SELECT {_COLUMNS} FROM events WHERE call_id = ? AND account_key = ? ORDER BY sequence"
)
_LAST_POSITION = Sql("SELECT position FROM event_positions WHERE account_key = ?")
_PURGE = Sql("DELETE FROM events WHERE occurred_at < ?")


def _data(event: Event) -> str:
    values = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name not in _IN_COLUMNS
    }
    return orjson.dumps(values).decode()


def _logged(row: rows.Row) -> LoggedEvent | None:
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
    return [logged for row in found if (logged := _logged(row)) is not None]


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
                event = dataclasses.replace(event, sequence=sequence)
            written.append(event)
        counts: dict[str, int] = {}
        for event in written:
            counts[event.account_key] = counts.get(event.account_key, 0) + 1
        position: dict[str, int] = {}
        for key in sorted(counts):  # one order of row locks for every transaction
            row = await tx.run_returning("number events", _ADVANCE, (key, counts[key]))
            assert row is not None
            position[key] = int(row[0]) - counts[key]
        values = []
        for event in written:
            position[event.account_key] += 1
            values.append(
                (
                    event.account_key,
                    position[event.account_key],
                    event.id,
                    event.type,
                    getattr(event, "call_id", None),
                    getattr(event, "sequence", None),
                    tx.d.time(event.at),
                    _data(event),
                )
            )
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
        return int(row[0]) if row is not None else 0

    async def purge(self, before: datetime) -> int:
        return await self._tx.run("purge events", _PURGE, (self._tx.d.time(before),))
