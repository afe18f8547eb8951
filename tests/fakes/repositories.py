"""In-memory repositories with the SQL adapter's semantics (the contract suite holds both).

They work on a ``FakeSession``'s copy of the data; objects go in and out as copies, so a
caller's change counts only once saved, as with a database.
"""

from __future__ import annotations

import builtins
import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from switchboard.domain.accounts import Account
from switchboard.domain.agents import FREE_TO_CALL_OUT, Agent, AgentState, agent_id_sort_key
from switchboard.domain.calls import Call, Phase
from switchboard.domain.errors import AlreadyExists, UnknownEntity, UnstorableValue
from switchboard.domain.events import CallEvent, Event, LoggedEvent
from switchboard.service.ports import CallQuery, IdempotentRequest

_NEVER = datetime.min.replace(tzinfo=UTC)
# What neither driver encodes. A NUL is kept, as SQLite keeps it (PostgreSQL refuses it: the
# contract suite says which backend does what).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(what: str, texts: Iterable[object]) -> None:
    for text in texts:
        if isinstance(text, str) and _SURROGATE.search(text) is not None:
            raise UnstorableValue(f"{what}: a lone surrogate cannot be stored")


def _text_fields(item: object) -> list[object]:
    values = [getattr(item, f.name) for f in fields(item)]  # type: ignore[arg-type]
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


@dataclass
class FakeNode:
    doorbell: str
    seen_at: datetime
    taken_by: str | None = None
    taken_at: datetime | None = None


@dataclass
class FakeData:
    accounts: dict[str, Account] = field(default_factory=dict)
    token_hashes: dict[str, str] = field(default_factory=dict)
    agents: dict[tuple[str, str], Agent] = field(default_factory=dict)
    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, FakeNode] = field(default_factory=dict)
    # The outbox: every account's events in position order, and the last position given
    # (one count for all accounts, as the SQL tables have).
    events: dict[str, list[LoggedEvent]] = field(default_factory=dict)
    event_position: int = 0
    event_purges: dict[str, int] = field(default_factory=dict)  # account: highest purged
    # Idempotency keys by (account, key), and each account's bucket: (level, updated_at).
    idempotency: dict[tuple[str, str], IdempotentRequest] = field(default_factory=dict)
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Webhooks (tests/fakes/webhooks.py): subscriptions with their leases by id, the delivery
    # log, redeliveries by (subscription, event).
    webhooks: dict[str, Any] = field(default_factory=dict)
    webhook_deliveries: list[Any] = field(default_factory=list)
    webhook_redeliveries: dict[tuple[str, str], Any] = field(default_factory=dict)


class FakeSession:
    """The data one unit of work sees, and whether it may write."""

    def __init__(self, data: FakeData, *, write: bool) -> None:
        self.data = data
        self.write = write

    def writing(self, operation: str) -> FakeData:
        if not self.write:
            raise RuntimeError(f"{operation} needs a unit of work opened with write=True")
        return self.data


def at_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: storage takes timezone-aware values only")
    return value.astimezone(UTC)


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else at_utc(value)


def candidate_order(agent: Agent) -> tuple[bool, datetime, tuple[int, str]]:
    idle = agent.idle_since
    return (idle is not None, _NEVER if idle is None else idle, agent_id_sort_key(agent.agent_id))


def _stored_agent(agent: Agent) -> Agent:
    _storable("store agent", _text_fields(agent))
    stored = copy.deepcopy(agent)
    stored.idle_since = utc(stored.idle_since)
    stored.wrapup_until = utc(stored.wrapup_until)
    return stored


def _stored_call(call: Call) -> Call:
    _storable("store call", _text_fields(call))
    stored = copy.deepcopy(call)
    for name in ("created_at", "agent_answered_at", "connected_at", "ended_at", "deadline_at"):
        setattr(stored, name, utc(getattr(stored, name)))
    return stored


class FakeAccountRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def get(self, key: str, *, cached: bool = False) -> Account | None:
        _storable("read account", [key])
        return copy.deepcopy(self._session.data.accounts.get(key))

    async def add(self, account: Account, api_token_hash: str) -> None:
        data = self._session.writing("add account")
        if account.key in data.accounts:
            raise AlreadyExists(f"account {account.key} already exists")
        data.accounts[account.key] = copy.deepcopy(account)
        data.token_hashes[account.key] = api_token_hash

    async def save(self, account: Account) -> None:
        data = self._session.writing("save account")
        stored = data.accounts.get(account.key)
        if stored is None:
            raise UnknownEntity(f"unknown account {account.key}")
        saved = copy.deepcopy(account)
        saved.token_generation = stored.token_generation  # only rotate_api_token moves it
        data.accounts[account.key] = saved

    async def credentials(self, key: str) -> tuple[str, int] | None:
        _storable("read credentials", [key])
        data = self._session.data
        if key not in data.accounts:
            return None
        return data.token_hashes[key], data.accounts[key].token_generation

    async def rotate_api_token(self, key: str, api_token_hash: str) -> int:
        data = self._session.writing("rotate API token")
        if key not in data.accounts:
            raise UnknownEntity(f"unknown account {key}")
        data.token_hashes[key] = api_token_hash
        data.accounts[key].token_generation += 1
        return data.accounts[key].token_generation

    async def list(self) -> builtins.list[Account]:
        accounts = self._session.data.accounts
        return [copy.deepcopy(accounts[key]) for key in sorted(accounts)]


class FakeAgentRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def get(
        self, account_key: str, agent_id: str, *, for_update: bool = False
    ) -> Agent | None:
        _storable("read agent", [account_key, agent_id])
        return copy.deepcopy(self._session.data.agents.get((account_key, agent_id)))

    async def add(self, agent: Agent) -> None:
        data = self._session.writing("add agent")
        if agent.account_key not in data.accounts:
            raise UnknownEntity(f"add agent: unknown account {agent.account_key}")
        if (agent.account_key, agent.agent_id) in data.agents:
            raise AlreadyExists(f"agent {agent.agent_id} already exists in {agent.account_key}")
        data.agents[(agent.account_key, agent.agent_id)] = _stored_agent(agent)

    async def save(self, agent: Agent) -> None:
        data = self._session.writing("save agent")
        key = (agent.account_key, agent.agent_id)
        if key not in data.agents:
            raise UnknownEntity(f"unknown agent {agent.agent_id} in {agent.account_key}")
        data.agents[key] = _stored_agent(agent)

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
        data = self._session.writing("reserve agent")
        agent = data.agents.get((account_key, agent_id))
        if agent is None or not _is_free(agent, free_states, wrapup_allowed):
            return False
        agent.state_before_call = agent.state
        agent.state = busy_state
        agent.current_call_id = call_id
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
        data = self._session.data
        members = {
            agent_id
            for group_id in group_ids
            for agent_id in data.groups.get((account_key, group_id), [])
        }
        found = [
            copy.deepcopy(data.agents[(account_key, agent_id)])
            for agent_id in members
            if agent_id != exclude
            and (account_key, agent_id) in data.agents
            and _is_free(data.agents[(account_key, agent_id)], FREE_TO_CALL_OUT, wrapup_allowed)
        ]
        return sorted(found, key=candidate_order)[:limit]

    async def next_wrapup_end(self) -> datetime | None:
        ends = [
            agent.wrapup_until
            for agent in self._session.data.agents.values()
            if agent.state is AgentState.WRAPUP
            and agent.wrapup_until is not None
            and agent.awaiting_disposition is None
        ]
        return min(ends) if ends else None

    async def due_wrapups(self, now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]:
        now = at_utc(now)
        due = [
            agent
            for agent in self._session.data.agents.values()
            if agent.state is AgentState.WRAPUP
            and agent.wrapup_until is not None
            and agent.wrapup_until <= now
            and agent.awaiting_disposition is None
        ]
        due.sort(key=lambda a: (a.wrapup_until, a.account_key, a.agent_id))
        return [(agent.account_key, agent.agent_id) for agent in due[:limit]]

    async def list(self, account_key: str) -> builtins.list[Agent]:
        found = [
            copy.deepcopy(agent)
            for (key, _), agent in self._session.data.agents.items()
            if key == account_key
        ]
        return sorted(found, key=lambda agent: agent_id_sort_key(agent.agent_id))


def _is_free(
    agent: Agent, free_states: Sequence[AgentState] | frozenset[AgentState], wrapup_allowed: bool
) -> bool:
    if agent.current_call_id is not None:
        return False
    if agent.state in free_states:
        return True
    return (
        wrapup_allowed and agent.state is AgentState.WRAPUP and agent.awaiting_disposition is None
    )


class FakeGroupRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def existing(self, account_key: str, group_ids: Sequence[str]) -> builtins.list[str]:
        _storable("read groups", [account_key, *group_ids])
        groups = self._session.data.groups
        return [g for g in dict.fromkeys(group_ids) if (account_key, g) in groups]

    async def members(
        self, account_key: str, group_ids: Sequence[str]
    ) -> dict[str, builtins.list[str]]:
        groups = self._session.data.groups
        return {
            group_id: builtins.list(groups[(account_key, group_id)])
            for group_id in dict.fromkeys(group_ids)
            if (account_key, group_id) in groups
        }

    async def add_members(self, account_key: str, group_id: str, agent_ids: Sequence[str]) -> None:
        data = self._session.writing("add group members")
        if account_key not in data.accounts:
            raise UnknownEntity(f"add group: unknown account {account_key}")
        for agent_id in agent_ids:
            if (account_key, agent_id) not in data.agents:
                raise UnknownEntity(f"add group members: unknown agent {agent_id}")
        members = data.groups.setdefault((account_key, group_id), [])
        for agent_id in agent_ids:
            if agent_id not in members:
                members.append(agent_id)

    async def list(self, account_key: str) -> dict[str, builtins.list[str]]:
        groups = self._session.data.groups
        return {
            group_id: builtins.list(groups[(key, group_id)])
            for key, group_id in sorted(groups)
            if key == account_key
        }


class FakeSettingsRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def get_or_create(self, name: str, candidate: str) -> str:
        return self._session.writing("create setting").settings.setdefault(name, candidate)


# The changing columns of ``rows.CALL_CHANGING``, as fields of ``Call``.
CALL_CHANGING = (
    "phase",
    "recording_status",
    "recording_set_by_client",
    "disposition_code",
    "result",
    "agent_answered_at",
    "connected_at",
    "ended_at",
    "deadline_at",
    "deadline_tag",
)


class FakeNodeRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def register(self, node_id: str, doorbell: str, now: datetime) -> None:
        nodes = self._session.writing("register the node").nodes
        nodes[node_id] = FakeNode(doorbell, at_utc(now))

    async def doorbell(self, node_id: str) -> str | None:
        node = self._session.data.nodes.get(node_id)
        return None if node is None else node.doorbell

    async def heartbeat(self, node_id: str, now: datetime) -> bool:
        node = self._session.writing("renew the node's lease").nodes.get(node_id)
        if node is None or node.taken_by is not None:
            return False
        node.seen_at = at_utc(now)
        return True

    async def taken_by(self, node_id: str) -> str | None:
        node = self._session.data.nodes.get(node_id)
        return None if node is None else node.taken_by

    async def silent(
        self, before: datetime, *, besides: str
    ) -> builtins.list[tuple[str, datetime]]:
        found = [
            (node_id, node.seen_at)
            for node_id, node in self._session.data.nodes.items()
            if node.taken_by is None and node.seen_at < at_utc(before) and node_id != besides
        ]
        return sorted(found, key=lambda item: (item[1], item[0]))

    async def take_over(self, node_id: str, seen_at: datetime, *, by: str, now: datetime) -> bool:
        node = self._session.writing("take the node over").nodes.get(node_id)
        if node is None or node.taken_by is not None or node.seen_at != at_utc(seen_at):
            return False
        node.taken_by, node.taken_at = by, at_utc(now)
        return True


class FakeEventLog:
    """The outbox in memory: positions per account from 1, sequences per call from 1."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def append(self, events: Sequence[Event]) -> builtins.list[Event]:
        data = self._session.writing("write events")
        written = []
        for event in events:
            if event.account_key not in data.accounts:
                raise UnknownEntity(f"write events: unknown account {event.account_key}")
            _storable("write events", _text_fields(event))
            if isinstance(event, CallEvent):
                last = max(
                    (
                        logged.event.sequence
                        for logged in data.events.get(event.account_key, [])
                        if isinstance(logged.event, CallEvent)
                        and logged.event.call_id == event.call_id
                    ),
                    default=0,
                )
                object.__setattr__(event, "sequence", last + 1)  # as the SQL log does
            data.event_position += 1
            logged = LoggedEvent(data.event_position, event)
            data.events.setdefault(event.account_key, []).append(logged)
            written.append(event)
        return written

    async def after(
        self, account_key: str, position: int, limit: int
    ) -> builtins.list[LoggedEvent]:
        logged = self._session.data.events.get(account_key, [])
        return [each for each in logged if each.position > position][:limit]

    async def of_call(self, account_key: str, call_id: str) -> builtins.list[LoggedEvent]:
        logged = self._session.data.events.get(account_key, [])
        found = [
            each
            for each in logged
            if isinstance(each.event, CallEvent) and each.event.call_id == call_id
        ]
        return sorted(found, key=lambda each: each.event.sequence)  # type: ignore[attr-defined]

    async def last_position(self, account_key: str) -> int:
        logged = self._session.data.events.get(account_key, [])
        return logged[-1].position if logged else 0

    async def purge(self, before: datetime) -> int:
        data = self._session.writing("purge events")
        everything = sorted(
            (each for logged in data.events.values() for each in logged),
            key=lambda each: each.position,
        )
        if not everything:
            return 0
        young = [each.position for each in everything if each.event.at >= before]
        # As the SQL log: all before the first young enough, and never the newest.
        bound = young[0] if young else everything[-1].position
        purged = 0
        for key, logged in data.events.items():
            kept = [each for each in logged if each.position >= bound]
            gone = [each.position for each in logged if each.position < bound]
            if gone:
                data.event_purges[key] = max(data.event_purges.get(key, 0), max(gone))
            purged += len(gone)
            data.events[key] = kept
        return purged

    async def purged_through(self, account_key: str) -> int:
        return self._session.data.event_purges.get(account_key, 0)


class FakeCallRepository:
    def __init__(self, session: FakeSession) -> None:
        self._session = session

    async def add(self, call: Call) -> None:
        data = self._session.writing("add call")
        if call.account_key not in data.accounts:
            raise UnknownEntity(f"add call: unknown account {call.account_key}")
        if call.id in data.calls:
            raise AlreadyExists(f"call {call.id} already exists")
        data.calls[call.id] = _stored_call(call)

    async def get(self, call_id: str, *, for_update: bool = False) -> Call | None:
        return copy.deepcopy(self._session.data.calls.get(call_id))

    async def save(self, call: Call) -> None:
        data = self._session.writing("save call")
        if call.id not in data.calls:
            raise UnknownEntity(f"unknown call {call.id}")
        stored, saved = data.calls[call.id], _stored_call(call)
        for name in CALL_CHANGING:  # what a call's life changes; the rest stays as placed
            setattr(stored, name, getattr(saved, name))

    async def delete(self, call_id: str) -> None:
        self._session.writing("delete call").calls.pop(call_id, None)

    async def latest_for_agent(self, account_key: str, agent_id: str) -> Call | None:
        found = [
            call
            for call in self._calls(account_key)
            if agent_id in (call.caller_agent_id, call.destination_agent_id)
        ]
        return copy.deepcopy(found[0]) if found else None

    async def due_calls(
        self, now: datetime, *, node_id: str, limit: int = 100
    ) -> builtins.list[Call]:
        now = at_utc(now)
        due = [
            call
            for call in self._session.data.calls.values()
            if call.phase is not Phase.ENDED
            and call.deadline_at is not None
            and call.deadline_at <= now
            and call.node_id == node_id
        ]
        due.sort(key=lambda call: (call.deadline_at, call.id))
        return [copy.deepcopy(call) for call in due[:limit]]

    async def next_deadline(self, node_id: str) -> datetime | None:
        found = [
            call.deadline_at
            for call in self._session.data.calls.values()
            if call.phase is not Phase.ENDED
            and call.deadline_at is not None
            and call.node_id == node_id
        ]
        return min(found) if found else None

    async def claim_deadline(
        self, call_id: str, deadline_at: datetime, tag: str, *, node_id: str, lease_until: datetime
    ) -> Call | None:
        call = self._session.writing("claim deadline").calls.get(call_id)
        if (
            call is None
            or call.phase is Phase.ENDED
            or call.node_id != node_id
            or call.deadline_at != at_utc(deadline_at)
            or call.deadline_tag != tag
        ):
            return None
        call.deadline_at = at_utc(lease_until)
        return copy.deepcopy(call)

    async def clear_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> bool:
        call = self._session.writing("clear deadline").calls.get(call_id)
        if call is None or call.deadline_at != at_utc(deadline_at) or call.deadline_tag != tag:
            return False
        call.deadline_at = call.deadline_tag = None
        return True

    async def take_calls(self, from_node: str, to_node: str) -> builtins.list[Call]:
        taken = [
            call
            for call in self._session.writing("take calls").calls.values()
            if call.node_id == from_node and call.phase is not Phase.ENDED
        ]
        for call in taken:
            call.node_id = to_node
        taken.sort(key=lambda call: (call.created_at, call.id))
        return [copy.deepcopy(call) for call in taken]

    async def set_deadline(self, call_id: str, deadline_at: datetime, tag: str) -> None:
        call = self._session.writing("set deadline").calls.get(call_id)
        if call is None:
            raise UnknownEntity(f"unknown call {call_id}")
        call.deadline_at = at_utc(deadline_at)
        call.deadline_tag = tag

    async def active_on_node(
        self, node_id: str, account_key: str | None = None
    ) -> builtins.list[Call]:
        found = [
            copy.deepcopy(call)
            for call in self._session.data.calls.values()
            if call.phase is not Phase.ENDED
            and call.node_id == node_id
            and account_key in (None, call.account_key)
        ]
        return sorted(found, key=lambda call: (call.created_at, call.id))

    async def purge_ended(self, before: datetime) -> int:
        calls = self._session.writing("purge ended calls").calls
        cutoff = at_utc(before)
        gone = [
            call.id
            for call in calls.values()
            if call.phase is Phase.ENDED and call.ended_at is not None and call.ended_at < cutoff
        ]
        for call_id in gone:
            del calls[call_id]
        return len(gone)

    async def list(
        self, account_key: str, *, active_only: bool = False, limit: int = 1000
    ) -> builtins.list[Call]:
        """Newest first."""
        found = [call for call in self._calls(account_key) if call.is_active or not active_only]
        return [copy.deepcopy(call) for call in found[:limit]]

    async def find(self, query: CallQuery) -> builtins.list[Call]:
        members = self._session.data.groups.get((query.account_key, query.group_id or ""), [])

        def matches(call: Call) -> bool:
            key = (call.created_at, call.id)
            return (
                (query.phases is None or call.phase in query.phases)
                and query.agent_id in (None, call.caller_agent_id, call.destination_agent_id)
                and (query.group_id is None or call.caller_agent_id in members)
                and (
                    query.destination is None
                    or (
                        query.destination[0] is not None
                        and query.destination[0] == call.destination_e164
                    )
                    or (
                        query.destination[1] is not None
                        and query.destination[1] == call.destination_agent_id
                    )
                )
                and query.reference in (None, call.reference)
                and (query.created_from is None or call.created_at >= at_utc(query.created_from))
                and (query.created_until is None or call.created_at < at_utc(query.created_until))
                and (query.before is None or key < (at_utc(query.before[0]), query.before[1]))
            )

        found = [call for call in self._calls(query.account_key) if matches(call)]
        return [copy.deepcopy(call) for call in found[: query.limit]]

    def _calls(self, account_key: str) -> builtins.list[Call]:
        """The account's calls, newest first."""
        found = [c for c in self._session.data.calls.values() if c.account_key == account_key]
        return sorted(found, key=lambda call: (call.created_at, call.id), reverse=True)
