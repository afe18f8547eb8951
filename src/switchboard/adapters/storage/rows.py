"""Domain objects to rows and back, for both dialects.

Rows are tuples in the order of the column lists below (``ACCOUNT_COLUMNS``...), which the
repositories' SQL selects by name. Instants are timezone-aware UTC in the domain; SQLite keeps
them as fixed-width UTC text (``2025-01-06 09:00:00.000000``, the format SQLAlchemy used, so
text order is time order and older databases read the same), PostgreSQL as
``timestamptz``. Lists of strings are JSON text on both; SQLite's booleans come back as 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from switchboard.domain.accounts import Account, CallbackNumber
from switchboard.domain.agents import Agent, AgentState, PostCallState
from switchboard.domain.calls import (
    Call,
    CallResult,
    Consent,
    Party,
    Phase,
    Reason,
    RecordingStatus,
)

Row = Sequence[Any]


def as_utc(value: datetime) -> datetime:
    """Refuse naive datetimes: every instant in Switchboard is timezone-aware UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: storage takes timezone-aware values only")
    return value.astimezone(UTC)


class Dialect:
    """How values cross into one database; ``SQLITE`` and ``POSTGRES`` below."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.text_times = name == "sqlite"

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        value = as_utc(value)
        if self.text_times:
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def flag(self, value: bool) -> Any:
        return int(value) if self.text_times else value


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgresql")


def dialect_named(name: str) -> Dialect:
    return SQLITE if name == "sqlite" else POSTGRES


def time_of(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def strings_of(value: Any) -> list[str]:
    return [str(item) for item in orjson.loads(value)]


def strings(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


# --------------------------------------------------------------------------- accounts

ACCOUNT_SETTINGS = (
    "region",
    "country",
    "ccxml",
    "record_calls",
    "agent_timeout_s",
    "destination_timeout_s",
    "wrapup_seconds",
    "post_call_state",
    "enforce_dispositions",
    "outbound_in_wrapup",
    "allow_premium",
    "deny_prefixes",
)
ACCOUNT_COLUMNS = ("key", *ACCOUNT_SETTINGS, "token_generation")
CALLBACK_COLUMNS = ("account_key", "position", "number", "e164", "is_default")


def account_values(d: Dialect, account: Account) -> list[Any]:
    """Every setting, in ``ACCOUNT_SETTINGS`` order; the token hash and generation are only
    written by the token commands."""
    return [
        account.region,
        account.country,
        d.flag(account.ccxml),
        d.flag(account.record_calls),
        account.agent_timeout_s,
        account.destination_timeout_s,
        account.wrapup_seconds,
        account.post_call_state.value,
        d.flag(account.enforce_dispositions),
        d.flag(account.outbound_in_wrapup),
        d.flag(account.allow_premium),
        strings(account.deny_prefixes),
    ]


def callback_number_values(
    d: Dialect, account_key: str, numbers: list[CallbackNumber]
) -> list[list[Any]]:
    return [
        [account_key, position, number.number, number.e164, d.flag(number.is_default)]
        for position, number in enumerate(numbers)
    ]


def account_of(row: Row, numbers: Sequence[Row]) -> Account:
    return Account(
        key=row[0],
        region=row[1],
        country=row[2],
        ccxml=bool(row[3]),
        record_calls=bool(row[4]),
        agent_timeout_s=row[5],
        destination_timeout_s=row[6],
        wrapup_seconds=row[7],
        post_call_state=PostCallState(row[8]),
        enforce_dispositions=bool(row[9]),
        outbound_in_wrapup=bool(row[10]),
        allow_premium=bool(row[11]),
        deny_prefixes=strings_of(row[12]),
        callback_numbers=[
            CallbackNumber(number=n[2], e164=n[3], is_default=bool(n[4])) for n in numbers
        ],
        token_generation=row[13],
    )


# --------------------------------------------------------------------------- agents

AGENT_COLUMNS = (
    "account_key",
    "agent_id",
    "name",
    "phone",
    "state",
    "settled_state",
    "state_before_call",
    "current_call_id",
    "idle_since",
    "wrapup_until",
    "awaiting_disposition",
    "callback_number",
    "allowed_numbers",
)


def agent_values(d: Dialect, agent: Agent) -> list[Any]:
    """In ``AGENT_COLUMNS`` order."""
    before = agent.state_before_call
    return [
        agent.account_key,
        agent.agent_id,
        agent.name,
        agent.phone,
        agent.state.label,
        agent.settled_state.label,
        None if before is None else before.label,
        agent.current_call_id,
        d.time(agent.idle_since),
        d.time(agent.wrapup_until),
        agent.awaiting_disposition,
        agent.callback_number,
        strings(agent.allowed_numbers),
    ]


_STATES = {state.label: state for state in AgentState}


def agent_of(row: Row) -> Agent:
    before = row[6]
    return Agent(
        account_key=row[0],
        agent_id=row[1],
        name=row[2],
        phone=row[3],
        state=_STATES[row[4]],
        settled_state=_STATES[row[5]],
        state_before_call=None if before is None else _STATES[before],
        current_call_id=row[7],
        idle_since=time_of(row[8]),
        wrapup_until=time_of(row[9]),
        awaiting_disposition=row[10],
        callback_number=row[11],
        allowed_numbers=strings_of(row[12]),
    )


# --------------------------------------------------------------------------- calls

# What is fixed when a call is placed; then what its life changes. ``save`` writes only the
# second part, so that SQLite leaves the indexes on the fixed columns alone (every column in a
# SET clause costs its indexes an update, changed or not).
CALL_FIXED = (
    "id",
    "account_key",
    "caller_agent_id",
    "created_at",
    "agent_phone",
    "destination_number",
    "destination_e164",
    "destination_agent_id",
    "destination_phone",
    "presented_clid",
    "presented_clid_e164",
    "from_telephone_number",
    "from_consent",
    "to_consent",
    "reference",
    "application",
    "agent_timeout_s",
    "destination_timeout_s",
    "engine",
    "node_id",
)
CALL_CHANGING = (
    "phase",
    "recording_status",
    "recording_set_by_client",
    "disposition_code",
    "result_code",
    "result_party",
    "result_reason",
    "agent_answered_at",
    "connected_at",
    "ended_at",
    "deadline_at",
    "deadline_tag",
)
CALL_COLUMNS = CALL_FIXED + CALL_CHANGING


def call_changes(d: Dialect, call: Call) -> list[Any]:
    """In ``CALL_CHANGING`` order."""
    result = call.result
    return [
        call.phase.value,
        call.recording_status.value,
        d.flag(call.recording_set_by_client),
        call.disposition_code,
        None if result is None else result.code,
        None if result is None else result.party.value,
        None if result is None else result.reason.value,
        d.time(call.agent_answered_at),
        d.time(call.connected_at),
        d.time(call.ended_at),
        d.time(call.deadline_at),
        call.deadline_tag,
    ]


def call_values(d: Dialect, call: Call) -> list[Any]:
    """In ``CALL_COLUMNS`` order."""
    return [
        call.id,
        call.account_key,
        call.caller_agent_id,
        d.time(call.created_at),
        call.agent_phone,
        call.destination_number,
        call.destination_e164,
        call.destination_agent_id,
        call.destination_phone,
        call.presented_clid,
        call.presented_clid_e164,
        call.from_telephone_number,
        None if call.from_consent is None else call.from_consent.value,
        None if call.to_consent is None else call.to_consent.value,
        call.reference,
        call.application,
        call.agent_timeout_s,
        call.destination_timeout_s,
        call.engine,
        call.node_id,
        *call_changes(d, call),
    ]


def call_of(row: Row) -> Call:
    """From a row in ``CALL_COLUMNS`` order."""
    result = None
    if row[24] is not None:
        result = CallResult(code=row[24], party=Party(row[25]), reason=Reason(row[26]))
    from_consent, to_consent = row[12], row[13]
    created_at = time_of(row[3])
    assert created_at is not None
    return Call(
        id=row[0],
        account_key=row[1],
        caller_agent_id=row[2],
        created_at=created_at,
        agent_phone=row[4],
        destination_number=row[5],
        destination_e164=row[6],
        destination_agent_id=row[7],
        destination_phone=row[8],
        presented_clid=row[9],
        presented_clid_e164=row[10],
        from_telephone_number=row[11],
        from_consent=None if from_consent is None else Consent(from_consent),
        to_consent=None if to_consent is None else Consent(to_consent),
        reference=row[14],
        application=row[15],
        agent_timeout_s=row[16],
        destination_timeout_s=row[17],
        engine=row[18],
        node_id=row[19],
        phase=Phase(row[20]),
        recording_status=RecordingStatus(row[21]),
        recording_set_by_client=bool(row[22]),
        disposition_code=row[23],
        result=result,
        agent_answered_at=time_of(row[27]),
        connected_at=time_of(row[28]),
        ended_at=time_of(row[29]),
        deadline_at=time_of(row[30]),
        deadline_tag=row[31],
    )
