"""The SQL repository of calls.

The statements of the hot path (those every placed call runs, and the scheduler's 50 ms
poll) are built once, here, with ``bindparam`` placeholders, and executed with parameters.
Building ``select``/``update`` objects afresh costs tens of microseconds each (an UPDATE of
every column about a millisecond) in construction and cache-key generation; a prebuilt
statement memoises its cache key and goes straight to the compiled cache. Bound parameter
names differ from column names, which SQLAlchemy reserves for the SET clause.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import Integer, bindparam, or_, select, update

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.coltypes import as_utc
from switchboard.adapters.storage.tables import calls
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.calls import Call, Phase
from switchboard.domain.errors import AlreadyExists, UnknownEntity

SIMULATOR = "simulator"
_ENDED = Phase.ENDED.value
_NEWEST_FIRST = (calls.c.created_at.desc(), calls.c.id.desc())

_GET = select(calls).where(calls.c.id == bindparam("b_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
# The SET clause comes from the keys of the parameters: every column but ``id``.
_UPDATE_BY_ID = update(calls).where(calls.c.id == bindparam("b_id"))
_CLAIM_DEADLINE = (
    update(calls)
    .where(
        calls.c.id == bindparam("b_id"),
        calls.c.deadline_at == bindparam("b_deadline_at"),
        calls.c.deadline_tag == bindparam("b_tag"),
    )
    .values(deadline_at=None, deadline_tag=None)
)
_DUE_DEADLINES = (
    select(calls.c.id, calls.c.deadline_at, calls.c.deadline_tag)
    .where(
        calls.c.phase != _ENDED,
        calls.c.deadline_at <= bindparam("b_now"),
        or_(calls.c.engine == SIMULATOR, calls.c.node_id == bindparam("b_node_id")),
    )
    .order_by(calls.c.deadline_at, calls.c.id)
    .limit(bindparam("b_limit", type_=Integer))
)


class SqlCallRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def add(self, call: Call) -> None:
        insert = self._tx.insert_ignoring_duplicates(calls)
        if (await self._tx.write("add call", insert, rows.call_values(call))).rowcount == 0:
            raise AlreadyExists(f"call {call.id} already exists")

    async def get(self, call_id: str, *, for_update: bool = False) -> Call | None:
        statement = _GET_FOR_UPDATE if for_update else _GET
        row = (await self._tx.read("get call", statement, {"b_id": call_id})).mappings().first()
        return None if row is None else rows.call_of(row)

    async def save(self, call: Call) -> None:
        values = rows.call_values(call)
        values["b_id"] = values.pop("id")
        if (await self._tx.write("save call", _UPDATE_BY_ID, values)).rowcount == 0:
            raise UnknownEntity(f"unknown call {call.id}")

    async def delete(self, call_id: str) -> None:
        await self._tx.write("delete call", calls.delete().where(calls.c.id == call_id))

    async def latest_for_agent(self, account_key: str, agent_id: str) -> Call | None:
        statement = (
            select(calls)
            .where(
                calls.c.account_key == account_key,
                or_(calls.c.caller_agent_id == agent_id, calls.c.destination_agent_id == agent_id),
            )
            .order_by(*_NEWEST_FIRST)
            .limit(1)
        )
        row = (await self._tx.read("find the agent's latest call", statement)).mappings().first()
        return None if row is None else rows.call_of(row)

    async def due_deadlines(
        self, now: datetime, *, node_id: str, limit: int = 100
    ) -> builtins.list[tuple[str, datetime, str]]:
        # ``as_utc`` here, not only in the column type: a naive datetime is the caller's
        # ValueError, which from inside execution would come out as ``StorageUnavailable``.
        parameters = {"b_now": as_utc(now), "b_node_id": node_id, "b_limit": limit}
        found = await self._tx.read("find due deadlines", _DUE_DEADLINES, parameters)
        return [(row[0], row[1], row[2] or "") for row in found]

    async def claim_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> bool:
        parameters = {"b_id": call_id, "b_deadline_at": as_utc(deadline_at), "b_tag": tag}
        return (await self._tx.write("claim deadline", _CLAIM_DEADLINE, parameters)).rowcount == 1

    async def set_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> None:
        parameters = {"b_id": call_id, "deadline_at": as_utc(deadline_at), "deadline_tag": tag}
        if (await self._tx.write("set deadline", _UPDATE_BY_ID, parameters)).rowcount == 0:
            raise UnknownEntity(f"unknown call {call_id}")

    async def active_on_node(
        self, node_id: str, account_key: str | None = None
    ) -> builtins.list[Call]:
        statement = select(calls).where(calls.c.phase != _ENDED, calls.c.node_id == node_id)
        if account_key is not None:
            statement = statement.where(calls.c.account_key == account_key)
        statement = statement.order_by(calls.c.created_at, calls.c.id)
        found = await self._tx.read("list active calls", statement)
        return [rows.call_of(row) for row in found.mappings()]

    async def purge_ended(self, before: datetime) -> int:
        statement = calls.delete().where(calls.c.phase == _ENDED, calls.c.ended_at < as_utc(before))
        return (await self._tx.write("purge ended calls", statement)).rowcount

    async def list(
        self, account_key: str, *, active_only: bool = False, limit: int = 1000
    ) -> builtins.list[Call]:
        """Newest first."""
        statement = select(calls).where(calls.c.account_key == account_key)
        if active_only:
            statement = statement.where(calls.c.phase != _ENDED)
        statement = statement.order_by(*_NEWEST_FIRST).limit(limit)
        found = await self._tx.read("list calls", statement)
        return [rows.call_of(row) for row in found.mappings()]
