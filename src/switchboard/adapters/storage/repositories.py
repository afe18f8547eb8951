"""The SQL repositories of accounts, agents, groups and settings (calls: ``call_repository``).

Each works inside the unit of work's ``Transaction``. Inserts use ``ON CONFLICT DO NOTHING`` and
report a duplicate from the row count; updates of a missing row raise ``UnknownEntity``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, RowMapping, and_, false, or_, select, update

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


class SqlAccountRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(self, key: str) -> Account | None:
        found = await self._tx.read("get account", select(accounts).where(accounts.c.key == key))
        row = found.mappings().first()
        if row is None:
            return None
        numbers = await self._tx.read(
            "get account",
            select(callback_numbers)
            .where(callback_numbers.c.account_key == key)
            .order_by(callback_numbers.c.position),
        )
        return rows.account_of(row, builtins.list(numbers.mappings()))

    async def add(self, account: Account, api_token_hash: str) -> None:
        values = rows.account_values(account) | {
            "key": account.key,
            "api_token_hash": api_token_hash,
            "token_generation": account.token_generation,
        }
        insert = self._tx.insert_ignoring_duplicates(accounts).values(values)
        if (await self._tx.write("add account", insert)).rowcount == 0:
            raise AlreadyExists(f"account {account.key} already exists")
        await self._write_numbers(account)

    async def save(self, account: Account) -> None:
        statement = (
            update(accounts)
            .where(accounts.c.key == account.key)
            .values(rows.account_values(account))
        )
        if (await self._tx.write("save account", statement)).rowcount == 0:
            raise UnknownEntity(f"unknown account {account.key}")
        await self._tx.write(
            "save account",
            callback_numbers.delete().where(callback_numbers.c.account_key == account.key),
        )
        await self._write_numbers(account)

    async def _write_numbers(self, account: Account) -> None:
        values = rows.callback_number_values(account.key, account.callback_numbers)
        if values:
            await self._tx.write("save callback numbers", callback_numbers.insert(), values)

    async def credentials(self, key: str) -> tuple[str, int] | None:
        statement = select(accounts.c.api_token_hash, accounts.c.token_generation).where(
            accounts.c.key == key
        )
        row = (await self._tx.read("read credentials", statement)).first()
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


class SqlAgentRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(
        self, account_key: str, agent_id: str, *, for_update: bool = False
    ) -> Agent | None:
        statement = select(agents).where(
            agents.c.account_key == account_key, agents.c.agent_id == agent_id
        )
        if for_update:
            statement = statement.with_for_update()
        row = (await self._tx.read("get agent", statement)).mappings().first()
        return None if row is None else rows.agent_of(row)

    async def add(self, agent: Agent) -> None:
        insert = self._tx.insert_ignoring_duplicates(agents).values(rows.agent_values(agent))
        if (await self._tx.write("add agent", insert)).rowcount == 0:
            raise AlreadyExists(f"agent {agent.agent_id} already exists in {agent.account_key}")

    async def save(self, agent: Agent) -> None:
        values = rows.agent_values(agent)
        del values["account_key"], values["agent_id"]
        statement = (
            update(agents)
            .where(agents.c.account_key == agent.account_key, agents.c.agent_id == agent.agent_id)
            .values(values)
        )
        if (await self._tx.write("save agent", statement)).rowcount == 0:
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
        statement = (
            update(agents)
            .where(
                agents.c.account_key == account_key,
                agents.c.agent_id == agent_id,
                agents.c.current_call_id.is_(None),
                _is_free(free_states, wrapup_allowed),
            )
            .values(
                state=busy_state.label,
                current_call_id=call_id,
                state_before_call=agents.c.state,
            )
        )
        return (await self._tx.write("reserve agent", statement)).rowcount == 1

    async def free_candidates(
        self, account_key: str, agent_ids: Sequence[str], *, wrapup_allowed: bool
    ) -> builtins.list[Agent]:
        if not agent_ids:
            return []
        statement = select(agents).where(
            agents.c.account_key == account_key,
            agents.c.agent_id.in_(set(agent_ids)),
            agents.c.current_call_id.is_(None),
            _is_free(FREE_TO_CALL_OUT, wrapup_allowed),
        )
        found = await self._tx.read("find free agents", statement)
        # Groups are small: ordering here keeps "id as a number" exact on both databases.
        return sorted((rows.agent_of(row) for row in found.mappings()), key=candidate_order)

    async def due_wrapups(self, now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]:
        statement = (
            select(agents.c.account_key, agents.c.agent_id)
            .where(
                agents.c.state == AgentState.WRAPUP.label,
                agents.c.wrapup_until <= as_utc(now),
                agents.c.awaiting_disposition.is_(None),
            )
            .order_by(agents.c.wrapup_until, agents.c.account_key, agents.c.agent_id)
            .limit(limit)
        )
        found = await self._tx.read("find due wrap-ups", statement)
        return [(row[0], row[1]) for row in found]

    async def list(self, account_key: str) -> builtins.list[Agent]:
        statement = select(agents).where(agents.c.account_key == account_key)
        found = await self._tx.read("list agents", statement)
        agents_found = [rows.agent_of(row) for row in found.mappings()]
        return sorted(agents_found, key=lambda agent: agent_id_sort_key(agent.agent_id))


def _is_free(
    free_states: Sequence[AgentState] | frozenset[AgentState], wrapup_allowed: bool
) -> ColumnElement[bool]:
    labels = sorted(state.label for state in free_states)
    in_free_state: ColumnElement[bool] = agents.c.state.in_(labels) if labels else false()
    if not wrapup_allowed:
        return in_free_state
    return or_(
        in_free_state,
        and_(
            agents.c.state == AgentState.WRAPUP.label,
            agents.c.awaiting_disposition.is_(None),
        ),
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
        known = select(groups.c.group_id).where(groups.c.account_key == account_key)
        members = (
            select(group_members.c.group_id, group_members.c.agent_id)
            .where(group_members.c.account_key == account_key)
            .order_by(group_members.c.id)
        )
        if group_ids is not None:
            known = known.where(groups.c.group_id.in_(group_ids))
            members = members.where(group_members.c.group_id.in_(group_ids))
        existing = {row[0] for row in await self._tx.read("read groups", known)}
        order = group_ids if group_ids is not None else sorted(existing)
        found: dict[str, builtins.list[str]] = {gid: [] for gid in order if gid in existing}
        for group_id, agent_id in await self._tx.read("read group members", members):
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
