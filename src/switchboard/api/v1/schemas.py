"""The bodies of ``/api/v1``, as pydantic models: requests are validated with them, responses
are built from them, and the OpenAPI document (``api.v1.openapi``) takes their JSON schemas,
so the document cannot drift from what the handlers send."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from switchboard.domain.accounts import Account, CallbackNumber
from switchboard.domain.agents import Agent, AgentState, PostCallState
from switchboard.domain.calls import Call, Phase

_STATE_LABELS = tuple(state.label for state in AgentState)
AgentStateLabel = Literal[
    "LoggedOut", "Wrapup", "Ready", "ReadyOutbound", "BusyIncoming", "BusyOutgoing",
    "BusyInternal", "Away", "XAway",
]  # fmt: skip
assert set(AgentStateLabel.__args__) == set(_STATE_LABELS)  # type: ignore[attr-defined]
CallStatus = Literal["agent_ringing", "destination_ringing", "connected", "ended"]
assert set(CallStatus.__args__) == {p.value for p in Phase}  # type: ignore[attr-defined]


class Body(BaseModel):
    """camelCase on the wire; unknown request fields are refused (a typo is not ignored)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# --------------------------------------------------------------------------- errors


class Error(Body):
    code: str = Field(description="Stable, for programs: see docs/api-v1.md.")
    message: str = Field(description="For people; may change.")


# --------------------------------------------------------------------------- calls


class CallResult(Body):
    code: Literal["Success", "Failure"]
    party: str
    reason: str


class CallOut(Body):
    id: str
    status: CallStatus
    active: bool
    agent_id: str
    to: str | None = Field(description="The destination number as given, or null")
    to_e164: str | None
    to_agent_id: str | None
    presented_clid: str | None
    reference: str | None = Field(description="The CRM's `regarding` reference")
    application: str | None
    recording_status: str
    disposition_code: str | None
    result: CallResult | None
    created_at: datetime
    agent_answered_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, call: Call) -> CallOut:
        result = call.result
        return cls(
            id=call.id,
            status=call.phase.value,
            active=call.is_active,
            agent_id=call.caller_agent_id,
            to=call.destination_number,
            to_e164=call.destination_e164,
            to_agent_id=call.destination_agent_id,
            presented_clid=call.presented_clid,
            reference=call.reference,
            application=call.application,
            recording_status=call.recording_status.value,
            disposition_code=call.disposition_code,
            result=None
            if result is None
            else CallResult(
                code=result.code,  # type: ignore[arg-type]
                party=result.party.value,
                reason=result.reason.value,
            ),
            created_at=call.created_at,
            agent_answered_at=call.agent_answered_at,
            connected_at=call.connected_at,
            ended_at=call.ended_at,
        )


class CallPage(Body):
    calls: list[CallOut]
    next: str | None = Field(description="The cursor of the next page; null on the last page")


# --------------------------------------------------------------------------- events


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in JSON (docs/events.md); ``data`` depends on ``type``."""

    model_config = ConfigDict(extra="allow")
    specversion: Literal["1.0"]
    id: str
    source: str
    type: str
    time: str
    datacontenttype: Literal["application/json"]
    subject: str | None = None
    data: dict[str, Any]


class EventPage(Body):
    events: list[CloudEvent]
    next: str = Field(description="The cursor to pass as `after` for the following page")


class CallEvents(Body):
    events: list[CloudEvent]


# --------------------------------------------------------------------------- provisioning


class CallbackNumberOut(Body):
    number: str
    e164: str
    default: bool

    @classmethod
    def of(cls, number: CallbackNumber) -> CallbackNumberOut:
        return cls(number=number.number, e164=number.e164, default=number.is_default)


class AccountSettings(Body):
    """Every field left out keeps its current (or default) value."""

    country: str | None = Field(None, description="ISO 3166 two-letter code")
    region: str | None = None
    ccxml: bool | None = None
    record_calls: bool | None = None
    wrapup_seconds: float | None = None
    agent_timeout: float | None = Field(None, description="Seconds")
    destination_timeout: float | None = Field(None, description="Seconds")
    post_call_state: Literal["Ready", "ReadyOutbound", "Unchanged"] | None = None
    enforce_dispositions: bool | None = None
    outbound_in_wrapup: bool | None = None
    allow_premium: bool | None = None
    deny_prefixes: list[str] | None = None


class AccountIn(AccountSettings):
    key: str = Field(description="1 to 64 letters and digits")


class AccountOut(Body):
    key: str
    region: str
    country: str
    ccxml: bool
    record_calls: bool
    agent_timeout: float
    destination_timeout: float
    wrapup_seconds: float
    post_call_state: Literal["Ready", "ReadyOutbound", "Unchanged"]
    enforce_dispositions: bool
    outbound_in_wrapup: bool
    allow_premium: bool
    deny_prefixes: list[str]
    callback_numbers: list[CallbackNumberOut]

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(
            key=a.key,
            region=a.region,
            country=a.country,
            ccxml=a.ccxml,
            record_calls=a.record_calls,
            agent_timeout=a.agent_timeout_s,
            destination_timeout=a.destination_timeout_s,
            wrapup_seconds=a.wrapup_seconds,
            post_call_state=a.post_call_state.value,
            enforce_dispositions=a.enforce_dispositions,
            outbound_in_wrapup=a.outbound_in_wrapup,
            allow_premium=a.allow_premium,
            deny_prefixes=list(a.deny_prefixes),
            callback_numbers=[CallbackNumberOut.of(n) for n in a.callback_numbers],
        )


class AccountList(Body):
    accounts: list[AccountOut]


class ApiToken(Body):
    account_key: str
    api_token: str = Field(description="Shown once: only its hash is stored")


class AccountCreated(Body):
    account: AccountOut
    api_token: str = Field(description="Shown once: only its hash is stored")


class AgentSettings(Body):
    name: str | None = None
    phone: str | None = Field(None, description="sip:, sips: or tel: URI")
    callback_number: str | None = None
    allowed_numbers: list[str] | None = None


class AgentIn(AgentSettings):
    id: str = Field(description="1 to 11 digits")
    state: AgentStateLabel | None = None


class AgentStateIn(Body):
    state: AgentStateLabel


class AgentOut(Body):
    id: str
    name: str
    state: AgentStateLabel
    state_code: int
    phone: str
    current_call: str | None
    callback_number: str | None
    allowed_numbers: list[str]
    wrapup_until: datetime | None

    @classmethod
    def of(cls, a: Agent) -> AgentOut:
        return cls(
            id=a.agent_id,
            name=a.name,
            state=a.state.label,  # type: ignore[arg-type]
            state_code=a.state.code,
            phone=a.phone,
            current_call=a.current_call_id,
            callback_number=a.callback_number,
            allowed_numbers=list(a.allowed_numbers),
            wrapup_until=a.wrapup_until,
        )


class AgentList(Body):
    agents: list[AgentOut]


class GroupMembersIn(Body):
    members: list[str] = Field(min_length=1, description="Agent ids, added to the group")


class GroupOut(Body):
    id: str
    members: list[str]


class GroupList(Body):
    groups: list[GroupOut]


class CallbackNumberIn(Body):
    number: str
    default: bool = False


class CallbackNumberList(Body):
    numbers: list[CallbackNumberOut]


def post_call_state(value: str | None) -> PostCallState | None:
    return None if value is None else PostCallState(value)


def agent_state(value: str | None) -> AgentState | None:
    return None if value is None else AgentState.from_label(value)
