"""The event catalogue through /api/v1: every simulator outcome's events in order, exactly one
terminal event per call, the per-account log with cursors, and the API's errors."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.domain.agents import AgentState
from switchboard.domain.calls import Party
from switchboard.domain.errors import RuleViolation
from switchboard.service import provisioning, scheduler
from switchboard.service.provisioning import AgentOptions
from tests.support.harness import Harness
from tests.support.openapi_check import OpenApiChecker

KEY = "a1b2c3d4e5"
ANSWERED = [
    "call.placed",
    "call.agent.ringing",
    "call.agent.answered",
    "call.destination.ringing",
    "call.destination.answered",
    "call.connected",
    "call.recording.changed",
    "call.ended",
]


def to_number(number: str, reference: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": number}}
    if reference is not None:
        body["regarding"] = {"reference": reference}
    return body


async def placed(sb: Harness, body: dict[str, Any]) -> str:
    response = await sb.place(body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def events_of(sb: Harness, call_id: str, key: str = KEY) -> list[dict[str, Any]]:
    response = await sb.client.get(
        f"/api/v1/accounts/{key}/calls/{call_id}/events", headers=await sb.headers(key)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"].removeprefix("com.switchboard.") for e in events]


def ended(events: list[dict[str, Any]]) -> dict[str, Any]:
    terminal = [e for e in events if e["type"] == "com.switchboard.call.ended"]
    assert len(terminal) == 1, kinds(events)
    assert events[-1] is terminal[0]  # nothing after the end
    return dict(terminal[0]["data"])


def sequences_run_from_one(events: list[dict[str, Any]]) -> None:
    assert [e["data"]["sequence"] for e in events] == list(range(1, len(events) + 1))


async def phone(sb: Harness, agent_id: str, uri: str) -> None:
    await provisioning.update_agent(sb.ctx, KEY, agent_id, AgentOptions(phone=uri))


async def test_an_answered_call_tells_its_whole_life_in_order(sb_any: Harness) -> None:
    sb = sb_any
    call_id = await placed(sb, to_number("02072068888", reference="0012400000ATTUQ"))
    await sb.advance(2.0 + 60)
    events = await events_of(sb, call_id)
    assert kinds(events) == ANSWERED
    sequences_run_from_one(events)
    first = events[0]
    assert first["specversion"] == "1.0" and first["subject"] == call_id
    assert first["source"] == f"/api/v1/accounts/{KEY}"
    assert first["datacontenttype"] == "application/json"
    assert first["data"]["regarding"] == {"reference": "0012400000ATTUQ"}
    assert first["data"]["agentId"] == "1234"
    assert len({e["id"] for e in events}) == len(events)
    assert ended(events) | {"callId": None} == {
        "accountKey": KEY,
        "callId": None,
        "sequence": 8,
        "regarding": {"reference": "0012400000ATTUQ"},
        "result": {"code": "Success", "party": "Destination", "reason": "Normal"},
        "sipStatus": None,
        "q850Cause": None,
        "hungUpBy": "destination",
        "started": True,
    }


@pytest.mark.parametrize(
    ("uri", "wait"), [("sim:noanswer", 15.1), ("sim:answer?after=16000", 15.1)]
)
async def test_an_agent_that_never_answers_fails_its_leg_then_ends(
    sb: Harness, uri: str, wait: float
) -> None:
    await phone(sb, "1234", uri)
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(wait)
    events = await events_of(sb, call_id)
    assert kinds(events) == ["call.placed", "call.agent.ringing", "call.agent.failed", "call.ended"]
    assert events[2]["data"]["reason"] == "NoAnswer"
    end = ended(events)
    assert end["result"] == {"code": "Failure", "party": "Originator", "reason": "NoAnswer"}
    assert end["hungUpBy"] == "switchboard"


@pytest.mark.parametrize(
    ("number", "reason", "by"),
    [
        ("02072060486", "NumberBusy", "destination"),
        ("02072060404", "NumberUnobtainable", "destination"),
        ("02072060603", "CallRejected", "destination"),
        ("02072060503", "CallFailed", "switchboard"),
    ],
)
async def test_a_destination_that_refuses_fails_its_leg_then_ends(
    sb: Harness, number: str, reason: str, by: str
) -> None:
    call_id = await placed(sb, to_number(number))
    await sb.advance(1.0)
    events = await events_of(sb, call_id)
    assert kinds(events) == [
        "call.placed",
        "call.agent.ringing",
        "call.agent.answered",
        "call.destination.failed",
        "call.ended",
    ]
    assert events[3]["data"]["reason"] == reason
    end = ended(events)
    assert (end["result"]["reason"], end["hungUpBy"]) == (reason, by)
    sequences_run_from_one(events)


async def test_a_destination_that_never_answers(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072060408"))
    await sb.advance(1.0 + 60.1)
    events = await events_of(sb, call_id)
    assert kinds(events)[-3:] == [
        "call.destination.ringing",
        "call.destination.failed",
        "call.ended",
    ]
    assert ended(events)["result"]["reason"] == "NoAnswer"


async def test_a_hang_up_by_the_api_while_the_destination_rings(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072060408"))
    await sb.advance(1.0)
    await sb.end(call_id, Party.ORIGINATOR)
    with pytest.raises(RuleViolation):  # a second hang-up ends nothing more
        await sb.end(call_id, Party.DESTINATION)
    events = await events_of(sb, call_id)
    assert kinds(events)[-2:] == ["call.destination.failed", "call.ended"]
    end = ended(events)
    assert end["result"] == {"code": "Failure", "party": "Originator", "reason": "Normal"}
    assert end["hungUpBy"] == "client"


async def test_agent_to_agent_calls_and_their_destination_outcomes(sb: Harness) -> None:
    call_id = await placed(sb, {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}})
    await sb.advance(2.0)
    await sb.end(call_id, Party.DESTINATION)
    events = await events_of(sb, call_id)
    assert kinds(events) == ANSWERED
    assert ended(events)["hungUpBy"] == "client"
    await phone(sb, "4567", "sim:busy")
    await sb.advance(200)  # both agents out of wrap-up
    busy = await placed(sb, {"from": {"agentId": "1234"}, "to": {"agentId": "4567"}})
    await sb.advance(1.0)
    events = await events_of(sb, busy)
    assert kinds(events)[-2:] == ["call.destination.failed", "call.ended"]
    assert ended(events)["result"]["reason"] == "NumberBusy"


async def test_a_placement_refused_by_rule_20_leaves_no_event(sb: Harness) -> None:
    await phone(sb, "1234", "sim:busy")
    before = await page(sb)
    response = await sb.place(to_number("02072068888"))
    assert response.status_code == 400
    assert (await page(sb, after=before["next"]))["events"] == []


async def test_recording_and_disposition_take_their_place_in_the_call(sb: Harness) -> None:
    call_id = await placed(sb, to_number("02072068888"))
    await sb.advance(2.0)
    headers = await sb.headers()
    await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}", json={"recordingStatus": "Paused"}, headers=headers
    )
    await sb.client.post(
        f"/v0/{KEY}/calls/{call_id}/dispositionCode",
        json={"dispositionCode": "Sale", "agentId": "1234"},
        headers=headers,
    )
    await sb.end(call_id, Party.ORIGINATOR)
    events = await events_of(sb, call_id)
    assert kinds(events)[-4:] == [
        "call.recording.changed",
        "call.recording.changed",
        "call.disposition.set",
        "call.ended",
    ]
    assert events[-3]["data"]["recordingStatus"] == "Paused"
    assert events[-2]["data"] == events[-2]["data"] | {
        "dispositionCode": "Sale",
        "agentId": "1234",
    }
    sequences_run_from_one(events)


async def page(sb: Harness, key: str = KEY, **query: Any) -> dict[str, Any]:
    response = await sb.client.get(
        f"/api/v1/accounts/{key}/events", params=query, headers=await sb.headers(key)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


async def test_the_account_log_pages_with_cursors_in_commit_order(sb_any: Harness) -> None:
    sb = sb_any
    start = (await page(sb))["next"]
    first = await placed(sb, to_number("02072068888"))
    await sb.advance(1.0)
    await sb.set_state("4567", AgentState.AWAY)
    await sb.end(first, Party.ORIGINATOR)
    await sb.advance(181)  # out of wrap-up
    second = await placed(sb, to_number("02072060486"))
    await sb.advance(1.0)
    seen: list[dict[str, Any]] = []
    cursor = start
    while True:
        got = await page(sb, after=cursor, limit=3)
        assert len(got["events"]) <= 3
        if not got["events"]:
            assert got["next"] == cursor  # nothing new: the same cursor again
            break
        seen.extend(got["events"])
        cursor = got["next"]
    everything = (await page(sb, after=start, limit=1000))["events"]
    assert [e["id"] for e in seen] == [e["id"] for e in everything]
    of_first = [e for e in seen if e.get("subject") == first]
    assert kinds(of_first) == kinds((await events_of(sb, first))[: len(of_first)])
    assert "agent.state.changed" in kinds(seen)
    agent_event = next(e for e in seen if e["type"] == "com.switchboard.agent.state.changed")
    assert agent_event["subject"] == "agents/4567"
    assert agent_event["data"] == {
        "accountKey": KEY,
        "agentId": "4567",
        "state": "Away",
        "previous": "Ready",
    }
    assert kinds([e for e in seen if e.get("subject") == second])[-1] == "call.ended"


async def test_the_api_answers_errors_with_stable_codes(sb: Harness) -> None:
    other = "f0f0f0f0f0"
    await sb.create_account(other)
    headers = await sb.headers()
    cases = [
        (f"/api/v1/accounts/{KEY}/events", {}, 401, "unauthorized"),
        (f"/api/v1/accounts/{other}/events", headers, 403, "forbidden"),
        (f"/api/v1/accounts/{KEY}/nothing", headers, 404, "not_found"),
        (f"/api/v1/accounts/{KEY}/calls/not-a-call/events", headers, 404, "not_found"),
        (
            f"/api/v1/accounts/{KEY}/calls/0190a0b0-0000-7000-8000-000000000000/events",
            headers,
            404,
            "not_found",
        ),
        (f"/api/v1/accounts/{KEY}/events?after=x", headers, 400, "invalid_parameter"),
        (f"/api/v1/accounts/{KEY}/events?limit=0", headers, 400, "invalid_parameter"),
        (f"/api/v1/accounts/{KEY}/events?limit=1001", headers, 400, "invalid_parameter"),
    ]
    for path, sent, status, code in cases:
        response = await sb.client.get(path, headers=sent)
        assert (response.status_code, response.json()["code"]) == (status, code), path
        assert response.json()["message"]
    response = await sb.client.post(f"/api/v1/accounts/{KEY}/events", headers=headers)
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    # Another account's call is not found, whatever its id.
    call_id = await placed(sb, to_number("02072068888"))
    other_headers = await sb.headers(other)
    response = await sb.client.get(
        f"/api/v1/accounts/{other}/calls/{call_id}/events", headers=other_headers
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_a_cursor_behind_the_retention_is_told_so_not_served_what_is_left(
    sb_any: Harness,
) -> None:
    """Events past ``SWITCHBOARD_EVENT_RETENTION_SECONDS`` are purged; a reader whose cursor
    is behind what went would silently miss events, so the log and the stream answer 410
    ``cursor_expired`` (valid against the served OpenAPI document) and the reader starts
    again. A cursor whose own event went, with nothing after it gone, is still good."""
    sb = sb_any
    document = (await sb.client.get("/api/v1/openapi.json")).json()
    checker = OpenApiChecker(document)
    await sb.set_state("4567", AgentState.AWAY)
    before = (await page(sb))["next"]  # a reader that saw the first event
    await sb.set_state("4567", AgentState.READY)
    seen = await page(sb, after=before)  # another that saw the second too
    assert kinds(seen["events"]) == ["agent.state.changed"]
    sb.clock.advance(sb.ctx.event_retention_s + 1)
    await sb.set_state("4567", AgentState.AWAY)
    await scheduler.purge_expired(sb.ctx)  # the first two go
    headers = await sb.headers()
    base = f"/api/v1/accounts/{KEY}/events"

    behind = checker.check(await sb.client.get(base, params={"after": before}, headers=headers))
    assert behind.status_code == 410
    assert behind.json()["code"] == "cursor_expired"
    assert "past their retention" in behind.json()["message"]
    stream = await sb.client.get(
        base, headers={**headers, "Accept": "text/event-stream", "Last-Event-ID": before}
    )
    assert stream.status_code == 410 and stream.json()["code"] == "cursor_expired"

    # The reader that saw the purged event has missed nothing: it goes on.
    after_seen = await page(sb, after=seen["next"])
    assert [e["data"]["state"] for e in after_seen["events"]] == ["Away"]
    # Without a cursor (or with 0): from the oldest kept.
    assert (await page(sb))["events"] == after_seen["events"]
    assert (await page(sb, after="0"))["events"] == after_seen["events"]
