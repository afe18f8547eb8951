"""Calls over /api/v1: listing with filters and cursors (also while calls are placed between
pages), getting one, and hanging up in every state on the simulator; every answer is checked
against the served OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchboard.domain.agents import AgentState
from switchboard.service import provisioning
from switchboard.service.provisioning import AgentOptions
from tests.support.harness import Harness
from tests.support.openapi_check import OpenApiChecker

KEY = "a1b2c3d4e5"
CALLS = f"/api/v1/accounts/{KEY}/calls"


async def checker(sb: Harness) -> OpenApiChecker:
    response = await sb.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return OpenApiChecker(response.json())


def body(agent: str, number: str = "02072068888", reference: str | None = None) -> dict[str, Any]:
    sent: dict[str, Any] = {"from": {"agentId": agent}, "to": {"telephoneNumber": number}}
    if reference is not None:
        sent["regarding"] = {"reference": reference}
    return sent


async def place(sb: Harness, agent: str, **kw: Any) -> str:
    response = await sb.place(body(agent, **kw))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_ready_agents(sb: Harness, count: int) -> list[str]:
    ids = [str(100 + n) for n in range(count)]
    for agent_id in ids:
        options = AgentOptions(state=AgentState.READY)
        await provisioning.add_agent(sb.ctx, KEY, agent_id, options)
    return ids


async def listed(sb: Harness, oa: OpenApiChecker, query: str = "") -> dict[str, Any]:
    response = oa.check(await sb.client.get(f"{CALLS}?{query}", headers=await sb.headers()))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def all_pages(sb: Harness, oa: OpenApiChecker, query: str, between: Any = None) -> list[str]:
    ids: list[str] = []
    page = await listed(sb, oa, query)
    while True:
        ids += [c["id"] for c in page["calls"]]
        if page["next"] is None:
            return ids
        if between is not None:
            await between()
        page = await listed(sb, oa, f"{query}&cursor={page['next']}")


async def test_the_list_filters_by_each_field(sb_any: Harness) -> None:
    sb = sb_any
    oa = await checker(sb)
    first = await place(sb, "1234", reference="0012400000ATTUQ")
    sb.clock.advance(10)
    second = await place(sb, "4567", number="02072060486")  # busy: ends at once
    sb.clock.advance(10)
    third = await place(sb, "5464", reference="0012400000ATTUQ")
    await sb.advance(0.5)
    everything = await listed(sb, oa)
    assert [c["id"] for c in everything["calls"]] == [third, second, first]
    assert everything["next"] is None
    latest = everything["calls"][0]
    assert (latest["agentId"], latest["to"], latest["toE164"]) == (
        "5464",
        "02072068888",
        "+442072068888",
    )
    assert latest["reference"] == "0012400000ATTUQ" and latest["active"] is True

    async def ids(query: str) -> list[str]:
        return [c["id"] for c in (await listed(sb, oa, query))["calls"]]

    assert await ids("status=ended") == [second]
    assert await ids("status=active") == [third, first]
    status = {c["id"]: c["status"] for c in everything["calls"]}
    assert status[third] == "agent_ringing" and status[first] != "agent_ringing"
    assert await ids(f"status=agent_ringing,{status[first]}") == [third, first]
    assert await ids("status=ENDED,agent_ringing") == [third, second]
    assert await ids("agent=4567") == [second]
    assert await ids("group=400") == [third]  # 5464's group
    assert await ids("group=nobody") == []
    assert await ids("destination=02072060486") == [second]  # national, read as at placement
    assert await ids("destination=%2B442072068888") == [third, first]
    assert await ids("regarding=0012400000ATTUQ") == [third, first]
    start = everything["calls"][-1]["createdAt"].replace("+00:00", "Z")
    assert await ids(f"from={start}") == [third, second, first]
    assert await ids(f"from={everything['calls'][1]['createdAt'].replace('+', '%2B')}") == [
        third,
        second,
    ]
    assert await ids(f"until={everything['calls'][1]['createdAt'].replace('+', '%2B')}") == [first]
    assert await ids("regarding=0012400000ATTUQ&agent=1234") == [first]


async def test_pages_follow_cursors_while_calls_are_placed(sb_any: Harness) -> None:
    sb = sb_any
    oa = await checker(sb)
    agents = await add_ready_agents(sb, 10)
    placed = [await place(sb, agent) for agent in agents[:7]]  # all at the same instant
    later = iter(agents[7:])

    async def another() -> None:
        sb.clock.advance(1)
        placed.append(await place(sb, next(later)))

    seen = await all_pages(sb, oa, "limit=3", between=another)
    # Every call there at the start, once each, newest first; those placed while paging
    # are newer than the first page and come on a new first page, not in the middle.
    assert sorted(seen) == sorted(placed[:7]) and len(seen) == 7
    fresh = await listed(sb, oa, "limit=3")
    assert [c["id"] for c in fresh["calls"]] == [*placed[7:][::-1], seen[0]]
    assert sorted(await all_pages(sb, oa, "limit=4")) == sorted(placed)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("status=ringing", "status"),
        ("from=yesterday", "from"),
        ("until=2026-01-01T00:00:00", "time zone"),
        ("cursor=!!!", "cursor"),
        ("cursor=bm9wZQ", "cursor"),
    ],
)
async def test_bad_listing_parameters_are_400(sb: Harness, query: str, fragment: str) -> None:
    oa = await checker(sb)
    response = oa.check(await sb.client.get(f"{CALLS}?{query}", headers=await sb.headers()))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert fragment in response.json()["message"]


async def hang_up(sb: Harness, oa: OpenApiChecker, call_id: str) -> dict[str, Any]:
    response = oa.check(
        await sb.client.post(f"{CALLS}/{call_id}/hangup", headers=await sb.headers())
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def events_of(sb: Harness, call_id: str) -> list[str]:
    response = await sb.client.get(f"{CALLS}/{call_id}/events", headers=await sb.headers())
    return [e["type"].removeprefix("com.switchboard.") for e in response.json()["events"]]


@pytest.mark.parametrize(
    ("advance", "status_before", "agent_after"),
    [
        (0.0, "agent_ringing", "Ready"),
        (1.0, "destination_ringing", "Wrapup"),
        (2.0, "connected", "Wrapup"),
    ],
)
async def test_hang_up_in_every_state_ends_the_call_and_frees_the_agent(
    sb: Harness, advance: float, status_before: str, agent_after: str
) -> None:
    oa = await checker(sb)
    call_id = await place(sb, "1234")
    await sb.advance(advance)
    before = oa.check(await sb.client.get(f"{CALLS}/{call_id}", headers=await sb.headers()))
    assert before.json()["status"] == status_before
    ended = await hang_up(sb, oa, call_id)
    assert ended["status"] == "ended" and ended["active"] is False
    assert ended["result"]["party"] == "Originator" and ended["endedAt"] is not None
    agent = await sb.agent("1234")
    assert agent.current_call_id is None and agent.state.label == agent_after
    # Idempotent: the same answer again, and still one terminal event.
    assert await hang_up(sb, oa, call_id) == ended
    assert (await events_of(sb, call_id)).count("call.ended") == 1
    assert (await sb.get_call(call_id))["status"] is None  # V0 sees it ended too


async def test_hang_up_of_a_call_that_ended_by_itself_answers_its_result(sb: Harness) -> None:
    oa = await checker(sb)
    call_id = await place(sb, "1234", number="02072060486")
    await sb.advance(1.0)
    ended = await hang_up(sb, oa, call_id)
    assert ended["result"] == {"code": "Failure", "party": "Destination", "reason": "NumberBusy"}


async def test_calls_of_another_account_or_unknown_are_not_found(sb: Harness) -> None:
    oa = await checker(sb)
    other = "f0f0f0f0f0"
    await sb.create_account(other)
    call_id = await place(sb, "1234")
    headers = await sb.headers(other)
    for path in (f"/api/v1/accounts/{other}/calls/{call_id}", f"{CALLS}/not-a-guid"):
        sent = headers if other in path else await sb.headers()
        response = oa.check(await sb.client.get(path, headers=sent))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = oa.check(
        await sb.client.post(f"/api/v1/accounts/{other}/calls/{call_id}/hangup", headers=headers)
    )
    assert response.status_code == 404
    response = oa.check(await sb.client.post(f"{CALLS}/{call_id}/hangup", headers=headers))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    response = oa.check(await sb.client.get(CALLS))
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
    assert (await sb.get_call(call_id))["status"] == "Active"  # none of that touched it


async def test_two_hang_ups_at_once_end_the_call_once(sb_any: Harness) -> None:
    sb = sb_any
    oa = await checker(sb)
    call_id = await place(sb, "1234")
    await sb.advance(2.0)
    first, second = await asyncio.gather(hang_up(sb, oa, call_id), hang_up(sb, oa, call_id))
    assert first == second and first["status"] == "ended"
    assert (await events_of(sb, call_id)).count("call.ended") == 1


async def test_filters_nothing_can_match_are_empty_not_errors(sb_any: Harness) -> None:
    sb = sb_any
    oa = await checker(sb)
    await place(sb, "1234")
    for query in ("agent=%00", "regarding=%F0%9F%98%80", "group=a%00b", "destination=%00x"):
        assert (await listed(sb, oa, query))["calls"] == [], query
