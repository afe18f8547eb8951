"""The SQL repository of calls."""

from __future__ import annotations

import builtins
import functools
from datetime import datetime
from typing import Any

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.database import Sql
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.calls import Call, Phase
from switchboard.domain.errors import AlreadyExists, UnknownEntity
from switchboard.service.ports import CallQuery

_ENDED = Phase.ENDED.value
_COLUMNS = ", ".join(rows.CALL_COLUMNS)
_SELECT = f"SELECT {_COLUMNS} FROM calls"
_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"

_INSERT = Sql(
    f"INSERT INTO calls ({_COLUMNS}) VALUES ({', '.join('?' * len(rows.CALL_COLUMNS))}) "
    "ON CONFLICT DO NOTHING"
)
_GET = Sql(f"{_SELECT} WHERE id = ?")
_GET_FOR_UPDATE = Sql(f"{_SELECT} WHERE id = ? FOR_UPDATE")
_UPDATE = Sql(
    "UPDATE calls SET "
    + ", ".join(f"{column} = ?" for column in rows.CALL_CHANGING)
    + " WHERE id = ?"
)
_DELETE = Sql("DELETE FROM calls WHERE id = ?")
_LATEST_FOR_AGENT = Sql(
    f"{_SELECT} WHERE account_key = ? AND (caller_agent_id = ? OR destination_agent_id = ?) "
    f"{_NEWEST_FIRST} LIMIT 1"
)
# A claim is a lease: the deadline moves to the lease's end, so that a claimer that dies
# before completing it leaves it to fall due again. Only the call's owner claims.
_CLAIM_DEADLINE = Sql(
    "UPDATE calls SET deadline_at = ? "
    f"WHERE id = ? AND deadline_at = ? AND deadline_tag = ? AND node_id = ? "
    f"AND phase != '{_ENDED}' RETURNING {_COLUMNS}"
)
_CLEAR_DEADLINE = Sql(
    "UPDATE calls SET deadline_at = NULL, deadline_tag = NULL "
    "WHERE id = ? AND deadline_at = ? AND deadline_tag = ?"
)
_TAKE_CALLS = Sql(
    f"UPDATE calls SET node_id = ? WHERE node_id = ? AND phase != '{_ENDED}' RETURNING {_COLUMNS}"
)
_SET_DEADLINE = Sql("UPDATE calls SET deadline_at = ?, deadline_tag = ? WHERE id = ?")
# Served by ix_calls_node_id_phase, then the few active calls of the node.
_DUE_CALLS = Sql(
    f"{_SELECT} WHERE node_id = ? AND phase != '{_ENDED}' AND deadline_at <= ? "
    "ORDER BY deadline_at, id LIMIT ?"
)
_NEXT_DEADLINE = Sql(
    f"SELECT MIN(deadline_at) FROM calls WHERE node_id = ? AND phase != '{_ENDED}'"
)
_ACTIVE_ON_NODE = Sql(
    f"{_SELECT} WHERE phase != '{_ENDED}' AND node_id = ? ORDER BY created_at, id"
)
_ACTIVE_ON_NODE_OF_ACCOUNT = Sql(
    f"{_SELECT} WHERE phase != '{_ENDED}' AND node_id = ? AND account_key = ? "
    "ORDER BY created_at, id"
)
_PURGE = Sql(f"DELETE FROM calls WHERE phase = '{_ENDED}' AND ended_at < ?")
_LIST = Sql(f"{_SELECT} WHERE account_key = ? {_NEWEST_FIRST} LIMIT ?")
_LIST_ACTIVE = Sql(
    f"{_SELECT} WHERE account_key = ? AND phase != '{_ENDED}' {_NEWEST_FIRST} LIMIT ?"
)

# The filters of a listing, in the order of their parameters. Each combination is one
# statement, rendered once; ix_calls_account_key_created_at serves the order, the cursor and
# the time range, the indexes of migration 0007 the narrow filters in the same order.
_FILTERS: tuple[tuple[str, str], ...] = (
    ("phases", "phase IN ({marks})"),  # placeholders, not a list: the index takes them
    ("agent_id", "(caller_agent_id = ? OR destination_agent_id = ?)"),
    (
        "group_id",
        "caller_agent_id IN (SELECT agent_id FROM group_members "
        "WHERE account_key = calls.account_key AND group_id = ?)",
    ),
    ("destination", "(destination_e164 = ? OR destination_agent_id = ?)"),
    ("destination_e164", "destination_e164 = ?"),
    ("destination_agent", "destination_agent_id = ?"),
    ("reference", "reference = ?"),
    ("created_from", "created_at >= ?"),
    ("created_until", "created_at < ?"),
    # The first bound is the one an index range can use; the second breaks ties by id.
    ("before", "created_at <= ? AND (created_at < ? OR id < ?)"),
)


@functools.lru_cache(maxsize=512)
def _find_statement(present: tuple[str, ...], phases: int = 0) -> Sql:
    marks = ", ".join("?" * phases)
    clauses = ["account_key = ?"] + [
        sql.replace("{marks}", marks) for name, sql in _FILTERS if name in present
    ]
    return Sql(f"{_SELECT} WHERE {' AND '.join(clauses)} {_NEWEST_FIRST} LIMIT ?")


def _filter_values(query: CallQuery) -> dict[str, Any]:
    """The filters' values by ``_FILTERS`` name. A destination that can only be a number, or
    only an agent id, is one equality an index serves; one that may be either is the OR."""
    values: dict[str, Any] = {name: getattr(query, name, None) for name, _ in _FILTERS}
    if query.destination is not None:
        e164, agent_id = query.destination
        values["destination"] = None
        if e164 is None:
            values["destination_agent"] = agent_id
        elif agent_id is None:
            values["destination_e164"] = e164
        else:
            values["destination"] = query.destination
    return values


class SqlCallRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def add(self, call: Call) -> None:
        values = rows.call_values(self._tx.d, call)
        if await self._tx.run("add call", _INSERT, values) == 0:
            raise AlreadyExists(f"call {call.id} already exists")

    async def get(self, call_id: str, *, for_update: bool = False) -> Call | None:
        row = await self._tx.one("get call", _GET_FOR_UPDATE if for_update else _GET, (call_id,))
        return None if row is None else rows.call_of(row)

    async def save(self, call: Call) -> None:
        values = rows.call_changes(self._tx.d, call)
        values.append(call.id)
        if await self._tx.run("save call", _UPDATE, values) == 0:
            raise UnknownEntity(f"unknown call {call.id}")

    async def delete(self, call_id: str) -> None:
        await self._tx.run("delete call", _DELETE, (call_id,))

    async def find(self, query: CallQuery) -> builtins.list[Call]:
        time = self._tx.d.time
        present: list[str] = []
        parameters: list[object] = [query.account_key]
        values = _filter_values(query)
        for name, _ in _FILTERS:
            value = values[name]
            if value is None:
                continue
            present.append(name)
            if name == "phases":
                parameters += [phase.value for phase in value]
            elif name == "agent_id":
                parameters += [value, value]
            elif name == "destination":
                parameters += list(value)
            elif name in ("created_from", "created_until"):
                parameters.append(time(value))
            elif name == "before":
                parameters += [time(value[0]), time(value[0]), value[1]]
            else:
                parameters.append(value)
        parameters.append(query.limit)
        statement = _find_statement(tuple(present), len(query.phases or ()))
        found = await self._tx.all("find calls", statement, parameters)
        return [rows.call_of(row) for row in found]

    async def latest_for_agent(self, account_key: str, agent_id: str) -> Call | None:
        parameters = (account_key, agent_id, agent_id)
        row = await self._tx.one("find the agent's latest call", _LATEST_FOR_AGENT, parameters)
        return None if row is None else rows.call_of(row)

    async def due_calls(
        self, now: datetime, *, node_id: str, limit: int = 100
    ) -> builtins.list[Call]:
        parameters = (node_id, self._tx.d.time(now), limit)
        found = await self._tx.all("find due deadlines", _DUE_CALLS, parameters)
        return [rows.call_of(row) for row in found]

    async def next_deadline(self, node_id: str) -> datetime | None:
        row = await self._tx.one("find the next deadline", _NEXT_DEADLINE, (node_id,))
        return None if row is None else rows.time_of(row[0])

    async def claim_deadline(
        self, call_id: str, deadline_at: datetime, tag: str, *, node_id: str, lease_until: datetime
    ) -> Call | None:
        time = self._tx.d.time
        parameters = (time(lease_until), call_id, time(deadline_at), tag, node_id)
        row = await self._tx.run_returning("claim deadline", _CLAIM_DEADLINE, parameters)
        return None if row is None else rows.call_of(row)

    async def clear_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> bool:
        parameters = (call_id, self._tx.d.time(deadline_at), tag)
        return await self._tx.run("clear deadline", _CLEAR_DEADLINE, parameters) > 0

    async def take_calls(self, from_node: str, to_node: str) -> builtins.list[Call]:
        found = await self._tx.all_returning("take calls", _TAKE_CALLS, (to_node, from_node))
        return sorted((rows.call_of(row) for row in found), key=lambda c: (c.created_at, c.id))

    async def set_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> None:
        parameters = (self._tx.d.time(deadline_at), tag, call_id)
        if await self._tx.run("set deadline", _SET_DEADLINE, parameters) == 0:
            raise UnknownEntity(f"unknown call {call_id}")

    async def active_on_node(
        self, node_id: str, account_key: str | None = None
    ) -> builtins.list[Call]:
        if account_key is None:
            found = await self._tx.all("list active calls", _ACTIVE_ON_NODE, (node_id,))
        else:
            parameters = (node_id, account_key)
            found = await self._tx.all("list active calls", _ACTIVE_ON_NODE_OF_ACCOUNT, parameters)
        return [rows.call_of(row) for row in found]

    async def purge_ended(self, before: datetime) -> int:
        return await self._tx.run("purge ended calls", _PURGE, (self._tx.d.time(before),))

    async def list(
        self, account_key: str, *, active_only: bool = False, limit: int = 1000
    ) -> builtins.list[Call]:
        """Newest first."""
        statement = _LIST_ACTIVE if active_only else _LIST
        found = await self._tx.all("list calls", statement, (account_key, limit))
        return [rows.call_of(row) for row in found]
