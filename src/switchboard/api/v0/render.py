"""JSON shapes of the V0 answers, built from domain objects."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from switchboard.api.errors import json_response
from switchboard.domain.calls import Call


def call_link(base: str, account_key: str, call_id: str) -> str:
    return f"{base}/V0/{account_key}/Calls/{call_id}"


def agent_link(base: str, account_key: str, agent_id: str) -> str:
    return f"{base}/V0/{account_key}/Agents/{agent_id}"


def _consented(side: dict[str, Any], consent: Any) -> dict[str, Any]:
    if consent is not None:
        side["consent"] = consent.value
    return side


def created(call: Call, base: str) -> Response:
    """The 201 answer to a placement, with the call's address in ``Location``."""
    payload = call_created(call, base)
    return json_response(payload, 201, {"Location": payload["links"][0]["href"]})


def call_created(call: Call, base: str) -> dict[str, Any]:
    """The 201 body: what the client asked for, and the call's first state."""
    source = _consented(
        {"presentedClid": call.presented_clid, "agentId": call.caller_agent_id},
        call.from_consent,
    )
    target: dict[str, Any] = {}
    if call.destination_number is not None:
        target["telephoneNumber"] = call.destination_number
    if call.destination_agent_id is not None:
        target["agentId"] = call.destination_agent_id
    _consented(target, call.to_consent)
    return {
        "id": call.id,
        "links": [{"href": call_link(base, call.account_key, call.id), "rel": "_self"}],
        "from": source,
        "to": target,
        "regarding": {"reference": call.reference} if call.reference is not None else None,
        "status": "Active" if call.is_active else None,
        "recordingStatus": call.recording_status.value if call.is_active else None,
        "application": call.application,
        "dispositionCode": call.disposition_code,
    }


def call_detail(call: Call, base: str) -> dict[str, Any]:
    """The 201's keys (``null`` when empty) plus ``result``, and ``from.telephoneNumber``
    when the agent's phone has a number."""
    body = call_created(call, base)
    if call.from_telephone_number is not None:
        body["from"]["telephoneNumber"] = call.from_telephone_number
    body["result"] = (
        {
            "code": call.result.code,
            "party": call.result.party.value,
            "reason": call.result.reason.value,
        }
        if call.result is not None
        else None
    )
    return body


def agent_detail(account_key: str, agent_id: str, call_id: str | None, base: str) -> dict[str, Any]:
    links = [{"href": agent_link(base, account_key, agent_id), "rel": "_self"}]
    if call_id is not None:
        links.append({"href": call_link(base, account_key, call_id), "rel": "currentCall"})
    return {"id": agent_id, "links": links, "currentCallGuid": call_id}
