"""The SQL repositories of accounts, agents, groups and settings (calls: ``call_repository``).

Each works inside the unit of work's transaction. Inserts use ``ON CONFLICT DO NOTHING`` and
report a duplicate from the row count; updates of a missing row raise ``UnknownEntity``.

Choosing the agent of a group call never reads a group: each membership carries its agent's
standing (``free``, ``called``, ``idle_since``, ``agent_number``; migration 0002), which
``SqlAgentRepository`` refreshes in the transaction of every change to the agent, and
``ix_group_members_choice`` orders a group's members as a group call chooses them. One short
range scan per listed group (and per free standing allowed) finds the candidates, whatever
the size of the groups and of the account.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from switchboard.adapters.storage import rows
from switchboard.adapters.storage.cache import AccountCache
from switchboard.adapters.storage.database import Sql
from switchboard.adapters.storage.transaction import Transaction
from switchboard.domain.accounts import Account
from switchboard.domain.agents import Agent, AgentState, agent_id_sort_key
from switchboard.domain.errors import AlreadyExists, UnknownEntity


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


# The account and its callback numbers in one statement: a row per number (or one row of
# NULL numbers), in position order.
_ACCOUNT = Sql(
    f"SELECT {', '.join('a.' + c for c in rows.ACCOUNT_COLUMNS)}, "
    f"{', '.join('n.' + c for c in rows.CALLBACK_COLUMNS)} "
    "FROM accounts AS a LEFT JOIN callback_numbers AS n ON n.account_key = a.key "
    "WHERE a.key = ? ORDER BY n.position"
)
_ALL_ACCOUNTS = Sql(f"SELECT {', '.join(rows.ACCOUNT_COLUMNS)} FROM accounts ORDER BY key")
_ALL_CALLBACK_NUMBERS = Sql(
    f"SELECT {', '.join(rows.CALLBACK_COLUMNS)} FROM callback_numbers "
    "ORDER BY account_key, position"
)
_INSERT_ACCOUNT = Sql(
    f"INSERT INTO accounts ({', '.join(rows.ACCOUNT_SETTINGS)}, key, api_token_hash, "
    f"token_generation) VALUES ({_placeholders(len(rows.ACCOUNT_SETTINGS) + 3)}) "
    "ON CONFLICT DO NOTHING"
)
_UPDATE_ACCOUNT = Sql(
    "UPDATE accounts SET "
    + ", ".join(f"{column} = ?" for column in rows.ACCOUNT_SETTINGS)
    + " WHERE key = ?"
)
_CREDENTIALS = Sql("SELECT api_token_hash, token_generation FROM accounts WHERE key = ?")
_ROTATE = Sql(
    "UPDATE accounts SET api_token_hash = ?, token_generation = token_generation + 1 "
    "WHERE key = ? RETURNING token_generation"
)
_DELETE_CALLBACK_NUMBERS = Sql("DELETE FROM callback_numbers WHERE account_key = ?")
_INSERT_CALLBACK_NUMBER = Sql(
    f"INSERT INTO callback_numbers ({', '.join(rows.CALLBACK_COLUMNS)}) "
    f"VALUES ({_placeholders(len(rows.CALLBACK_COLUMNS))})"
)


class SqlAccountRepository:
    def __init__(self, tx: Transaction, cache: AccountCache | None = None) -> None:
        self._tx = tx
        self._cache = cache or AccountCache(0.0)

    async def get(self, key: str, *, cached: bool = False) -> Account | None:
        if cached:
            account = self._cache.get(key)
            if account is not None:
                return account
        found = await self._tx.all("get account", _ACCOUNT, (key,))
        if not found:
            return None
        width = len(rows.ACCOUNT_COLUMNS)
        numbers = [row[width:] for row in found if row[width] is not None]
        account = rows.account_of(found[0], numbers)
        self._cache.put(account)
        return account

    async def add(self, account: Account, api_token_hash: str) -> None:
        values = rows.account_values(self._tx.d, account)
        values += [account.key, api_token_hash, account.token_generation]
        self._cache.forget(account.key)
        if await self._tx.run("add account", _INSERT_ACCOUNT, values) == 0:
            raise AlreadyExists(f"account {account.key} already exists")
        await self._write_numbers(account)

    async def save(self, account: Account) -> None:
        values = [*rows.account_values(self._tx.d, account), account.key]
        self._cache.forget(account.key)
        if await self._tx.run("save account", _UPDATE_ACCOUNT, values) == 0:
            raise UnknownEntity(f"unknown account {account.key}")
        await self._tx.run("save account", _DELETE_CALLBACK_NUMBERS, (account.key,))
        await self._write_numbers(account)

    async def _write_numbers(self, account: Account) -> None:
        values = rows.callback_number_values(self._tx.d, account.key, account.callback_numbers)
        if values:
            await self._tx.run_many("save callback numbers", _INSERT_CALLBACK_NUMBER, values)

    async def credentials(self, key: str) -> tuple[str, int] | None:
        row = await self._tx.one("read credentials", _CREDENTIALS, (key,))
        return None if row is None else (row[0], row[1])

    async def rotate_api_token(self, key: str, api_token_hash: str) -> int:
        self._cache.forget(key)
        row = await self._tx.run_returning("rotate API token", _ROTATE, (api_token_hash, key))
        if row is None:
            raise UnknownEntity(f"unknown account {key}")
        return int(row[0])

    async def list(self) -> builtins.list[Account]:
        found = await self._tx.all("list accounts", _ALL_ACCOUNTS)
        numbers = await self._tx.all("list accounts", _ALL_CALLBACK_NUMBERS)
        by_account: dict[str, builtins.list[rows.Row]] = {}
        for number in numbers:
            by_account.setdefault(number[0], []).append(number)
        return [rows.account_of(row, by_account.get(row[0], [])) for row in found]


_AGENT_COLUMNS = ", ".join(rows.AGENT_COLUMNS)
_AGENT = Sql(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE account_key = ? AND agent_id = ?")
_AGENT_FOR_UPDATE = Sql(
    f"SELECT {_AGENT_COLUMNS} FROM agents WHERE account_key = ? AND agent_id = ? FOR_UPDATE"
)
_INSERT_AGENT = Sql(
    f"INSERT INTO agents ({_AGENT_COLUMNS}) VALUES ({_placeholders(len(rows.AGENT_COLUMNS))}) "
    "ON CONFLICT DO NOTHING"
)
_UPDATE_AGENT = Sql(
    "UPDATE agents SET "
    + ", ".join(f"{column} = ?" for column in rows.AGENT_COLUMNS[2:])
    + " WHERE account_key = ? AND agent_id = ?"
)
_LIST_AGENTS = Sql(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE account_key = ?")
# Free: on no call, and in one of the states bound to the list, or (where calls from wrap-up
# are allowed, the second parameter) in Wrapup owing no disposition.
_FREE = (
    "current_call_id IS NULL AND (state IN_LIST(?) "
    f"OR (? AND state = '{AgentState.WRAPUP.label}' AND awaiting_disposition IS NULL))"
)
_RESERVE = Sql(
    "UPDATE agents SET state = ?, current_call_id = ?, state_before_call = state "
    f"WHERE account_key = ? AND agent_id = ? AND {_FREE}"
)
# An agent's standing in its group memberships, from its row: kept in step by every change to
# the agent (the same expression backfills it in migration 0002).
_SET_STANDING = (
    "UPDATE group_members SET (free, called, idle_since, agent_number) = ("
    "SELECT CASE WHEN a.current_call_id IS NOT NULL THEN 2 "
    f"WHEN a.state IN ('{AgentState.READY.label}', '{AgentState.READY_OUTBOUND.label}') THEN 0 "
    f"WHEN a.state = '{AgentState.WRAPUP.label}' AND a.awaiting_disposition IS NULL THEN 1 "
    "ELSE 2 END, CASE WHEN a.idle_since IS NULL THEN 0 ELSE 1 END, a.idle_since, AGENT_NUMBER "
    "FROM agents AS a WHERE a.account_key = group_members.account_key "
    "AND a.agent_id = group_members.agent_id) "
)
_STANDING = Sql(_SET_STANDING + "WHERE account_key = ? AND agent_id = ?")
_STANDING_OF_GROUP = Sql(_SET_STANDING + "WHERE account_key = ? AND group_id = ?")
# Reserved: busy in every group at once.
_BUSY_IN_GROUPS = Sql("UPDATE group_members SET free = 2 WHERE account_key = ? AND agent_id = ?")
_ORDER = "called, idle_since, agent_number, agent_id"
_ARM = (
    "SELECT * FROM (SELECT agent_id, called, idle_since, agent_number FROM group_members "
    f"WHERE account_key = ? AND group_id = ? AND free = ? AND agent_id != ? ORDER BY {_ORDER} "
    "LIMIT ?) AS arm{n}"
)
# Beyond this many (group, standing) ranges a request names, one query sorts them together.
MAX_ARMS = 32
_CHOICES: dict[int, Sql] = {}


def _choice(arms: int) -> Sql:
    """The first free members of ``arms`` ranges of ``ix_group_members_choice``, merged."""
    sql = _CHOICES.get(arms)
    if sql is None:
        union = " UNION ALL ".join(_ARM.format(n=n) for n in range(arms))
        sql = Sql(
            f"SELECT DISTINCT {', '.join('a.' + c for c in rows.AGENT_COLUMNS)}, "
            f"c.called, c.idle_since AS c_idle_since, c.agent_number FROM ({union}) AS c "
            "JOIN agents AS a ON a.account_key = ? AND a.agent_id = c.agent_id "
            "ORDER BY c.called, c_idle_since, c.agent_number, a.agent_id LIMIT ?"
        )
        _CHOICES[arms] = sql
    return sql


_MANY_GROUPS = Sql(
    f"SELECT DISTINCT {', '.join('a.' + c for c in rows.AGENT_COLUMNS)}, "
    "m.called, m.idle_since AS m_idle_since, m.agent_number FROM group_members AS m "
    "JOIN agents AS a ON a.account_key = m.account_key AND a.agent_id = m.agent_id "
    "WHERE m.account_key = ? AND m.group_id IN_LIST(?) AND m.free <= ? AND m.agent_id != ? "
    "ORDER BY m.called, m_idle_since, m.agent_number, a.agent_id LIMIT ?"
)
_DUE_WRAPUPS = Sql(
    "SELECT account_key, agent_id FROM agents "
    f"WHERE state = '{AgentState.WRAPUP.label}' AND wrapup_until <= ? "
    "AND awaiting_disposition IS NULL "
    "ORDER BY wrapup_until, account_key, agent_id LIMIT ?"
)
_NEXT_WRAPUP_END = Sql(
    "SELECT MIN(wrapup_until) FROM agents "
    f"WHERE state = '{AgentState.WRAPUP.label}' AND awaiting_disposition IS NULL"
)


class SqlAgentRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get(
        self, account_key: str, agent_id: str, *, for_update: bool = False
    ) -> Agent | None:
        statement = _AGENT_FOR_UPDATE if for_update else _AGENT
        row = await self._tx.one("get agent", statement, (account_key, agent_id))
        return None if row is None else rows.agent_of(row)

    async def add(self, agent: Agent) -> None:
        values = rows.agent_values(self._tx.d, agent)
        if await self._tx.run("add agent", _INSERT_AGENT, values) == 0:
            raise AlreadyExists(f"agent {agent.agent_id} already exists in {agent.account_key}")

    async def save(self, agent: Agent) -> None:
        values = rows.agent_values(self._tx.d, agent)
        values = [*values[2:], values[0], values[1]]
        if await self._tx.run("save agent", _UPDATE_AGENT, values) == 0:
            raise UnknownEntity(f"unknown agent {agent.agent_id} in {agent.account_key}")
        key = (agent.account_key, agent.agent_id)
        await self._tx.run("update the agent's groups", _STANDING, key)

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
        parameters = (
            busy_state.label,
            call_id,
            account_key,
            agent_id,
            self._tx.list_param(state.label for state in free_states),
            self._tx.d.flag(wrapup_allowed),
        )
        if await self._tx.run("reserve agent", _RESERVE, parameters) == 0:
            return False
        await self._tx.run("update the agent's groups", _BUSY_IN_GROUPS, (account_key, agent_id))
        return True

    async def free_in_groups(
        self,
        account_key: str,
        group_ids: Sequence[str],
        *,
        wrapup_allowed: bool,
        exclude: str | None = None,
        limit: int = 10,
    ) -> builtins.list[Agent]:
        groups = list(dict.fromkeys(group_ids))
        standings = (0, 1) if wrapup_allowed else (0,)
        arms = [(group, free) for group in groups for free in standings]
        if not arms:
            return []
        if len(arms) <= MAX_ARMS:
            parameters: list[object] = []
            for group, free in arms:
                parameters += [account_key, group, free, exclude or "", limit]
            parameters += [account_key, limit]
            found = await self._tx.all("find free agents", _choice(len(arms)), parameters)
        else:
            parameters = [
                account_key,
                self._tx.list_param(groups),
                max(standings),
                exclude or "",
                limit,
            ]
            found = await self._tx.all("find free agents", _MANY_GROUPS, parameters)
        return [rows.agent_of(row) for row in found]

    async def due_wrapups(self, now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]:
        parameters = (self._tx.d.time(now), limit)
        found = await self._tx.all("find due wrap-ups", _DUE_WRAPUPS, parameters)
        return [(row[0], row[1]) for row in found]

    async def next_wrapup_end(self) -> datetime | None:
        row = await self._tx.one("find the next wrap-up end", _NEXT_WRAPUP_END)
        return None if row is None else rows.time_of(row[0])

    async def list(self, account_key: str) -> builtins.list[Agent]:
        found = await self._tx.all("list agents", _LIST_AGENTS, (account_key,))
        agents_found = [rows.agent_of(row) for row in found]
        return sorted(agents_found, key=lambda agent: agent_id_sort_key(agent.agent_id))


_GROUP_IDS = Sql("SELECT group_id FROM groups WHERE account_key = ?")
_GIVEN_GROUP_IDS = Sql("SELECT group_id FROM groups WHERE account_key = ? AND group_id IN_LIST(?)")
_GROUP_MEMBERS = Sql(
    "SELECT group_id, agent_id FROM group_members WHERE account_key = ? ORDER BY id"
)
_GIVEN_GROUP_MEMBERS = Sql(
    "SELECT group_id, agent_id FROM group_members "
    "WHERE account_key = ? AND group_id IN_LIST(?) ORDER BY id"
)
_INSERT_GROUP = Sql(
    "INSERT INTO groups (account_key, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_MEMBER = Sql(
    "INSERT INTO group_members (account_key, group_id, agent_id) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


class SqlGroupRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def existing(self, account_key: str, group_ids: Sequence[str]) -> builtins.list[str]:
        if not group_ids:
            return []
        parameters = (account_key, self._tx.list_param(group_ids))
        found = {row[0] for row in await self._tx.all("read groups", _GIVEN_GROUP_IDS, parameters)}
        return [group_id for group_id in dict.fromkeys(group_ids) if group_id in found]

    async def members(
        self, account_key: str, group_ids: Sequence[str]
    ) -> dict[str, builtins.list[str]]:
        if not group_ids:
            return {}
        return await self._groups(account_key, builtins.list(dict.fromkeys(group_ids)))

    async def add_members(self, account_key: str, group_id: str, agent_ids: Sequence[str]) -> None:
        await self._tx.run("add group", _INSERT_GROUP, (account_key, group_id))
        values = [(account_key, group_id, agent_id) for agent_id in dict.fromkeys(agent_ids)]
        if values:
            await self._tx.run_many("add group members", _INSERT_MEMBER, values)
            standing = (account_key, group_id)
            await self._tx.run("rate the group's members", _STANDING_OF_GROUP, standing)

    async def list(self, account_key: str) -> dict[str, builtins.list[str]]:
        return await self._groups(account_key, None)

    async def _groups(
        self, account_key: str, group_ids: builtins.list[str] | None
    ) -> dict[str, builtins.list[str]]:
        if group_ids is None:
            known = await self._tx.all("read groups", _GROUP_IDS, (account_key,))
            members = await self._tx.all("read group members", _GROUP_MEMBERS, (account_key,))
        else:
            parameters = (account_key, self._tx.list_param(group_ids))
            known = await self._tx.all("read groups", _GIVEN_GROUP_IDS, parameters)
            members = await self._tx.all("read group members", _GIVEN_GROUP_MEMBERS, parameters)
        existing = {row[0] for row in known}
        order = group_ids if group_ids is not None else sorted(existing)
        found: dict[str, builtins.list[str]] = {gid: [] for gid in order if gid in existing}
        for group_id, agent_id in members:
            found[group_id].append(agent_id)
        return found


_INSERT_SETTING = Sql("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
_SETTING = Sql("SELECT value FROM settings WHERE name = ?")


class SqlSettingsRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def get_or_create(self, name: str, candidate: str) -> str:
        await self._tx.run("create setting", _INSERT_SETTING, (name, candidate))
        row = await self._tx.one("read setting", _SETTING, (name,))
        assert row is not None
        return str(row[0])


# Registering is coming back: a node that was taken over starts afresh (its calls stay with
# the node that took them).
_REGISTER_NODE = Sql(
    "INSERT INTO nodes (node_id, doorbell, started_at, seen_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (node_id) DO UPDATE SET doorbell = excluded.doorbell, "
    "started_at = excluded.started_at, seen_at = excluded.seen_at, "
    "taken_by = NULL, taken_at = NULL"
)
_DOORBELL = Sql("SELECT doorbell FROM nodes WHERE node_id = ?")
_HEARTBEAT = Sql("UPDATE nodes SET seen_at = ? WHERE node_id = ? AND taken_by IS NULL")
_TAKEN_BY = Sql("SELECT taken_by FROM nodes WHERE node_id = ?")
_SILENT = Sql(
    "SELECT node_id, seen_at FROM nodes WHERE taken_by IS NULL AND seen_at < ? "
    "AND node_id != ? ORDER BY seen_at, node_id"
)
# Conditional on the heartbeat read: a node that renewed (or came back) since is not taken.
_TAKE_OVER = Sql(
    "UPDATE nodes SET taken_by = ?, taken_at = ? "
    "WHERE node_id = ? AND seen_at = ? AND taken_by IS NULL"
)


class SqlNodeRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def register(self, node_id: str, doorbell: str, now: datetime) -> None:
        time = self._tx.d.time(now)
        await self._tx.run("register the node", _REGISTER_NODE, (node_id, doorbell, time, time))

    async def doorbell(self, node_id: str) -> str | None:
        row = await self._tx.one("find the node", _DOORBELL, (node_id,))
        return None if row is None else str(row[0])

    async def heartbeat(self, node_id: str, now: datetime) -> bool:
        parameters = (self._tx.d.time(now), node_id)
        return await self._tx.run("renew the node's lease", _HEARTBEAT, parameters) > 0

    async def taken_by(self, node_id: str) -> str | None:
        row = await self._tx.one("find who took the node over", _TAKEN_BY, (node_id,))
        return None if row is None or row[0] is None else str(row[0])

    async def silent(self, before: datetime, *, besides: str) -> list[tuple[str, datetime]]:
        found = await self._tx.all("find silent nodes", _SILENT, (self._tx.d.time(before), besides))
        silent = []
        for node_id, seen_at in found:
            seen = rows.time_of(seen_at)
            assert seen is not None
            silent.append((str(node_id), seen))
        return silent

    async def take_over(self, node_id: str, seen_at: datetime, *, by: str, now: datetime) -> bool:
        time = self._tx.d.time
        parameters = (by, time(now), node_id, time(seen_at))
        return await self._tx.run("take the node over", _TAKE_OVER, parameters) > 0
