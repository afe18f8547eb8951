"""The SQL repositories of accounts, agents, groups and settings (calls: ``call_repository``).

Each works inside the unit of work's ``Transaction``. Inserts use ``ON CONFLICT DO NOTHING`` and
report a duplicate from the row count; updates of a missing row raise ``UnknownEntity``.

As in ``call_repository``, the statements of the hot path are built once, with ``bindparam``
placeholders (named unlike any column: SQLAlchemy reserves those for the SET clause), so that
each call skips their construction and cache-key generation.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Integer, RowMapping, and_, bindparam, or_, select, update

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.coltypes import as_utc
from switchboard.adapters.storage.tables import (
    accounts,
    agents,
    callback_numbers,
    group_members,
    groups,
    settings,
)
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.accounts import Account
from switchboard.domain.agents import FREE_TO_CALL_OUT, Agent, AgentState, agent_id_sort_key
from switchboard.domain.errors import AlreadyExists, UnknownEntity

_NEVER = datetime.min.replace(tzinfo=UTC)


def candidate_order(agent: Agent) -> tuple[bool, datetime, tuple[int, str]]:
    """Never-called first, then longest idle, then id as a number, then as text."""
    idle = agent.idle_since
    return (idle is not None, _NEVER if idle is None else idle, agent_id_sort_key(agent.agent_id))


_ACCOUNT = select(accounts).where(accounts.c.key == bindparam("b_key"))
_CALLBACK_NUMBERS = (
    select(callback_numbers)
    .where(callback_numbers.c.account_key == bindparam("b_key"))
    .order_by(callback_numbers.c.position)
)
_CREDENTIALS = select(accounts.c.api_token_hash, accounts.c.token_generation).where(
    accounts.c.key == bindparam("b_key")
)
# The SET clause comes from the keys of the parameters.
_UPDATE_ACCOUNT = update(accounts).where(accounts.c.key == bindparam("b_key"))
_DELETE_CALLBACK_NUMBERS = callback_numbers.delete().where(
    callback_numbers.c.account_key == bindparam("b_key")
)


class SqlAccountRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(self, key: str) -> Account | None:
        found = await self._tx.read("get account", _ACCOUNT, {"b_key": key})
        row = found.mappings().first()
        if row is None:
            return None
        numbers = await self._tx.read("get account", _CALLBACK_NUMBERS, {"b_key": key})
        return rows.account_of(row, builtins.list(numbers.mappings()))

    async def add(self, account: Account, api_token_hash: str) -> None:
        values = rows.account_values(account) | {
            "key": account.key,
            "api_token_hash": api_token_hash,
            "token_generation": account.token_generation,
        }
        insert = self._tx.insert_ignoring_duplicates(accounts)
        if (await self._tx.write("add account", insert, values)).rowcount == 0:
            raise AlreadyExists(f"account {account.key} already exists")
        await self._write_numbers(account)

    async def save(self, account: Account) -> None:
        values = rows.account_values(account) | {"b_key": account.key}
        if (await self._tx.write("save account", _UPDATE_ACCOUNT, values)).rowcount == 0:
            raise UnknownEntity(f"unknown account {account.key}")
        await self._tx.write("save account", _DELETE_CALLBACK_NUMBERS, {"b_key": account.key})
        await self._write_numbers(account)

    async def _write_numbers(self, account: Account) -> None:
        values = rows.callback_number_values(account.key, account.callback_numbers)
        if values:
            await self._tx.write("save callback numbers", callback_numbers.insert(), values)

    async def credentials(self, key: str) -> tuple[str, int] | None:
        row = (await self._tx.read("read credentials", _CREDENTIALS, {"b_key": key})).first()
        return None if row is None else (row[0], row[1])

    async def rotate_api_token(self, key: str, api_token_hash: str) -> int:
        statement = (
            update(accounts)
            .where(accounts.c.key == key)
            .values(
                api_token_hash=api_token_hash,
                token_generation=accounts.c.token_generation + 1,
            )
            .returning(accounts.c.token_generation)
        )
        generation = (await self._tx.write("rotate API token", statement)).scalar()
        if generation is None:
            raise UnknownEntity(f"unknown account {key}")
        return int(generation)

    async def list(self) -> builtins.list[Account]:
        found = await self._tx.read("list accounts", select(accounts).order_by(accounts.c.key))
        numbers = await self._tx.read(
            "list accounts",
            select(callback_numbers).order_by(
                callback_numbers.c.account_key, callback_numbers.c.position
            ),
        )
        by_account: dict[str, builtins.list[RowMapping]] = {}
        for number in numbers.mappings():
            by_account.setdefault(number["account_key"], []).append(number)
        return [rows.account_of(row, by_account.get(row["key"], [])) for row in found.mappings()]


def _is_free(wrapup_allowed: bool) -> ColumnElement[bool]:
    """In one of the states bound to ``b_free_states`` (or in Wrapup owing no disposition)."""
    in_free_state = agents.c.state.in_(bindparam("b_free_states", expanding=True))
    if not wrapup_allowed:
        return in_free_state
    return or_(
        in_free_state,
        and_(
            agents.c.state == AgentState.WRAPUP.label,
            agents.c.awaiting_disposition.is_(None),
        ),
    )


def _free_state_labels(free_states: Sequence[AgentState] | frozenset[AgentState]) -> list[str]:
    return sorted(state.label for state in free_states)


_AGENT_KEY = (
    agents.c.account_key == bindparam("b_account_key"),
    agents.c.agent_id == bindparam("b_agent_id"),
)
_AGENT = select(agents).where(*_AGENT_KEY)
_AGENT_FOR_UPDATE = _AGENT.with_for_update()
# The SET clause comes from the keys of the parameters.
_UPDATE_AGENT = update(agents).where(*_AGENT_KEY)
# By ``wrapup_allowed``.
_RESERVE = {
    wrapup_allowed: update(agents)
    .where(*_AGENT_KEY, agents.c.current_call_id.is_(None), _is_free(wrapup_allowed))
    .values(
        state=bindparam("b_busy_state"),
        current_call_id=bindparam("b_call_id"),
        state_before_call=agents.c.state,
    )
    for wrapup_allowed in (False, True)
}
_FREE_CANDIDATES = {
    wrapup_allowed: select(agents).where(
        agents.c.account_key == bindparam("b_account_key"),
        agents.c.agent_id.in_(bindparam("b_agent_ids", expanding=True)),
        agents.c.current_call_id.is_(None),
        _is_free(wrapup_allowed),
    )
    for wrapup_allowed in (False, True)
}
_FREE_TO_CALL_OUT_LABELS = _free_state_labels(FREE_TO_CALL_OUT)
_DUE_WRAPUPS = (
    select(agents.c.account_key, agents.c.agent_id)
    .where(
        agents.c.state == AgentState.WRAPUP.label,
        agents.c.wrapup_until <= bindparam("b_now"),
        agents.c.awaiting_disposition.is_(None),
    )
    .order_by(agents.c.wrapup_until, agents.c.account_key, agents.c.agent_id)
    .limit(bindparam("b_limit", type_=Integer))
)


class SqlAgentRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(
        self, account_key: str, agent_id: str, *, for_update: bool = False
    ) -> Agent | None:
        statement = _AGENT_FOR_UPDATE if for_update else _AGENT
        key = {"b_account_key": account_key, "b_agent_id": agent_id}
        row = (await self._tx.read("get agent", statement, key)).mappings().first()
        return None if row is None else rows.agent_of(row)

    async def add(self, agent: Agent) -> None:
        insert = self._tx.insert_ignoring_duplicates(agents)
        if (await self._tx.write("add agent", insert, rows.agent_values(agent))).rowcount == 0:
            raise AlreadyExists(f"agent {agent.agent_id} already exists in {agent.account_key}")

    async def save(self, agent: Agent) -> None:
        values = rows.agent_values(agent)
        values["b_account_key"] = values.pop("account_key")
        values["b_agent_id"] = values.pop("agent_id")
        if (await self._tx.write("save agent", _UPDATE_AGENT, values)).rowcount == 0:
            raise UnknownEntity(f"unknown agent {agent.agent_id} in {agent.account_key}")

    async def reserve(
        self,
        account_key: str,
        agent_id: str,
        *,
        call_id: str,
        busy_state: AgentState,
        free_states: Sequence[AgentState],
        wrapup_allowed: bool,
    ) -> bool:
        parameters = {
            "b_account_key": account_key,
            "b_agent_id": agent_id,
            "b_free_states": _free_state_labels(free_states),
            "b_busy_state": busy_state.label,
            "b_call_id": call_id,
        }
        statement = _RESERVE[wrapup_allowed]
        return (await self._tx.write("reserve agent", statement, parameters)).rowcount == 1

    async def free_candidates(
        self, account_key: str, agent_ids: Sequence[str], *, wrapup_allowed: bool
    ) -> builtins.list[Agent]:
        if not agent_ids:
            return []
        parameters = {
            "b_account_key": account_key,
            "b_agent_ids": builtins.list(set(agent_ids)),
            "b_free_states": _FREE_TO_CALL_OUT_LABELS,
        }
        statement = _FREE_CANDIDATES[wrapup_allowed]
        found = await self._tx.read("find free agents", statement, parameters)
        # Groups are small: ordering here keeps "id as a number" exact on both databases.
        return sorted((rows.agent_of(row) for row in found.mappings()), key=candidate_order)

    async def due_wrapups(self, now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]:
        parameters = {"b_now": as_utc(now), "b_limit": limit}
        found = await self._tx.read("find due wrap-ups", _DUE_WRAPUPS, parameters)
        return [(row[0], row[1]) for row in found]

    async def list(self, account_key: str) -> builtins.list[Agent]:
        statement = select(agents).where(agents.c.account_key == account_key)
        found = await self._tx.read("list agents", statement)
        agents_found = [rows.agent_of(row) for row in found.mappings()]
        return sorted(agents_found, key=lambda agent: agent_id_sort_key(agent.agent_id))


_GROUP_IDS = select(groups.c.group_id).where(groups.c.account_key == bindparam("b_account_key"))
_GROUP_MEMBERS = (
    select(group_members.c.group_id, group_members.c.agent_id)
    .where(group_members.c.account_key == bindparam("b_account_key"))
    .order_by(group_members.c.id)
)
_GIVEN_GROUP_IDS = _GROUP_IDS.where(groups.c.group_id.in_(bindparam("b_group_ids", expanding=True)))
_GIVEN_GROUP_MEMBERS = _GROUP_MEMBERS.where(
    group_members.c.group_id.in_(bindparam("b_group_ids", expanding=True))
)


class SqlGroupRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def members(
        self, account_key: str, group_ids: Sequence[str]
    ) -> dict[str, builtins.list[str]]:
        if not group_ids:
            return {}
        return await self._groups(account_key, builtins.list(dict.fromkeys(group_ids)))

    async def add_members(self, account_key: str, group_id: str, agent_ids: Sequence[str]) -> None:
        group = self._tx.insert_ignoring_duplicates(groups).values(
            account_key=account_key, group_id=group_id
        )
        await self._tx.write("add group", group)
        values = [
            {"account_key": account_key, "group_id": group_id, "agent_id": agent_id}
            for agent_id in dict.fromkeys(agent_ids)
        ]
        if values:
            members = self._tx.insert_ignoring_duplicates(group_members)
            await self._tx.write("add group members", members, values)

    async def list(self, account_key: str) -> dict[str, builtins.list[str]]:
        return await self._groups(account_key, None)

    async def _groups(
        self, account_key: str, group_ids: builtins.list[str] | None
    ) -> dict[str, builtins.list[str]]:
        parameters: dict[str, object] = {"b_account_key": account_key}
        known, members = _GROUP_IDS, _GROUP_MEMBERS
        if group_ids is not None:
            known, members = _GIVEN_GROUP_IDS, _GIVEN_GROUP_MEMBERS
            parameters["b_group_ids"] = group_ids
        existing = {row[0] for row in await self._tx.read("read groups", known, parameters)}
        order = group_ids if group_ids is not None else sorted(existing)
        found: dict[str, builtins.list[str]] = {gid: [] for gid in order if gid in existing}
        rows_found = await self._tx.read("read group members", members, parameters)
        for group_id, agent_id in rows_found:
            found[group_id].append(agent_id)
        return found


class SqlSettingsRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get_or_create(self, name: str, candidate: str) -> str:
        insert = self._tx.insert_ignoring_duplicates(settings).values(name=name, value=candidate)
        await self._tx.write("create setting", insert)
        stored = select(settings.c.value).where(settings.c.name == name)
        value = (await self._tx.read("read setting", stored)).scalar_one()
        return str(value)
