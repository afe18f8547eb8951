"""Domain objects to rows and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from switchboard.adapters.storage.coltypes import as_utc
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


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def account_values(account: Account) -> dict[str, Any]:
    """Every setting but the token hash and generation, which only the token commands write."""
    return {
        "region": account.region,
        "country": account.country,
        "ccxml": account.ccxml,
        "record_calls": account.record_calls,
        "agent_timeout_s": account.agent_timeout_s,
        "destination_timeout_s": account.destination_timeout_s,
        "wrapup_seconds": account.wrapup_seconds,
        "post_call_state": account.post_call_state.value,
        "enforce_dispositions": account.enforce_dispositions,
        "outbound_in_wrapup": account.outbound_in_wrapup,
        "allow_premium": account.allow_premium,
        "deny_prefixes": list(account.deny_prefixes),
    }


def callback_number_values(account_key: str, numbers: list[CallbackNumber]) -> list[dict[str, Any]]:
    return [
        {
            "account_key": account_key,
            "position": position,
            "number": number.number,
            "e164": number.e164,
            "is_default": number.is_default,
        }
        for position, number in enumerate(numbers)
    ]


def account_of(row: RowMapping, numbers: Sequence[RowMapping]) -> Account:
    return Account(
        key=row["key"],
        region=row["region"],
        country=row["country"],
        ccxml=row["ccxml"],
        record_calls=row["record_calls"],
        agent_timeout_s=row["agent_timeout_s"],
        destination_timeout_s=row["destination_timeout_s"],
        wrapup_seconds=row["wrapup_seconds"],
        post_call_state=PostCallState(row["post_call_state"]),
        enforce_dispositions=row["enforce_dispositions"],
        outbound_in_wrapup=row["outbound_in_wrapup"],
        allow_premium=row["allow_premium"],
        deny_prefixes=list(row["deny_prefixes"]),
        callback_numbers=[
            CallbackNumber(number=n["number"], e164=n["e164"], is_default=n["is_default"])
            for n in numbers
        ],
        token_generation=row["token_generation"],
    )


def agent_values(agent: Agent) -> dict[str, Any]:
    before = agent.state_before_call
    return {
        "account_key": agent.account_key,
        "agent_id": agent.agent_id,
        "name": agent.name,
        "phone": agent.phone,
        "state": agent.state.label,
        "settled_state": agent.settled_state.label,
        "state_before_call": None if before is None else before.label,
        "current_call_id": agent.current_call_id,
        "idle_since": _utc(agent.idle_since),
        "wrapup_until": _utc(agent.wrapup_until),
        "awaiting_disposition": agent.awaiting_disposition,
        "callback_number": agent.callback_number,
        "allowed_numbers": list(agent.allowed_numbers),
    }


def agent_of(row: RowMapping) -> Agent:
    before = row["state_before_call"]
    return Agent(
        account_key=row["account_key"],
        agent_id=row["agent_id"],
        name=row["name"],
        phone=row["phone"],
        state=AgentState.from_label(row["state"]),
        settled_state=AgentState.from_label(row["settled_state"]),
        state_before_call=None if before is None else AgentState.from_label(before),
        current_call_id=row["current_call_id"],
        idle_since=row["idle_since"],
        wrapup_until=row["wrapup_until"],
        awaiting_disposition=row["awaiting_disposition"],
        callback_number=row["callback_number"],
        allowed_numbers=list(row["allowed_numbers"]),
    )


def call_values(call: Call) -> dict[str, Any]:
    result = call.result
    return {
        "id": call.id,
        "account_key": call.account_key,
        "caller_agent_id": call.caller_agent_id,
        "created_at": as_utc(call.created_at),
        "agent_phone": call.agent_phone,
        "destination_number": call.destination_number,
        "destination_e164": call.destination_e164,
        "destination_agent_id": call.destination_agent_id,
        "destination_phone": call.destination_phone,
        "presented_clid": call.presented_clid,
        "presented_clid_e164": call.presented_clid_e164,
        "from_telephone_number": call.from_telephone_number,
        "from_consent": None if call.from_consent is None else call.from_consent.value,
        "to_consent": None if call.to_consent is None else call.to_consent.value,
        "reference": call.reference,
        "application": call.application,
        "phase": call.phase.value,
        "recording_status": call.recording_status.value,
        "recording_set_by_client": call.recording_set_by_client,
        "disposition_code": call.disposition_code,
        "result_code": None if result is None else result.code,
        "result_party": None if result is None else result.party.value,
        "result_reason": None if result is None else result.reason.value,
        "agent_answered_at": _utc(call.agent_answered_at),
        "connected_at": _utc(call.connected_at),
        "ended_at": _utc(call.ended_at),
        "agent_timeout_s": call.agent_timeout_s,
        "destination_timeout_s": call.destination_timeout_s,
        "deadline_at": _utc(call.deadline_at),
        "deadline_tag": call.deadline_tag,
        "engine": call.engine,
        "node_id": call.node_id,
    }


def call_of(row: RowMapping) -> Call:
    result = None
    if row["result_code"] is not None:
        result = CallResult(
            code=row["result_code"],
            party=Party(row["result_party"]),
            reason=Reason(row["result_reason"]),
        )
    from_consent, to_consent = row["from_consent"], row["to_consent"]
    return Call(
        id=row["id"],
        account_key=row["account_key"],
        caller_agent_id=row["caller_agent_id"],
        created_at=row["created_at"],
        agent_phone=row["agent_phone"],
        destination_number=row["destination_number"],
        destination_e164=row["destination_e164"],
        destination_agent_id=row["destination_agent_id"],
        destination_phone=row["destination_phone"],
        presented_clid=row["presented_clid"],
        presented_clid_e164=row["presented_clid_e164"],
        from_telephone_number=row["from_telephone_number"],
        from_consent=None if from_consent is None else Consent(from_consent),
        to_consent=None if to_consent is None else Consent(to_consent),
        reference=row["reference"],
        application=row["application"],
        phase=Phase(row["phase"]),
        recording_status=RecordingStatus(row["recording_status"]),
        recording_set_by_client=row["recording_set_by_client"],
        disposition_code=row["disposition_code"],
        result=result,
        agent_answered_at=row["agent_answered_at"],
        connected_at=row["connected_at"],
        ended_at=row["ended_at"],
        agent_timeout_s=row["agent_timeout_s"],
        destination_timeout_s=row["destination_timeout_s"],
        deadline_at=row["deadline_at"],
        deadline_tag=row["deadline_tag"],
        engine=row["engine"],
        node_id=row["node_id"],
    )
