"""``Idempotency-Key`` on ``POST /v0/{key}/calls``: a retry replays the first answer and places
no second call; another body under the key is refused (422); a key in flight answers 409."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import httpx

from switchboard.domain.agents import AgentState
from switchboard.domain.calls import Party
from switchboard.service import scheduler
from switchboard.service.idempotency import IN_FLIGHT_GRACE_S, fingerprint
from switchboard.service.ids import new_call_id
from switchboard.service.ports import IdempotentRequest
from tests.support.harness import Harness

KEY = "a1b2c3d4e5"
BODY = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


async def post(sb: Harness, body: object, key: str | None = "retry-1", **headers: str):
    if key is not None:
        headers["Idempotency-Key"] = key
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await sb.client.post(
        f"/v0/{KEY}/calls/", content=content, headers=await sb.headers(**headers)
    )


async def calls_placed(sb: Harness) -> list[str]:
    async with sb.ctx.uow(write=False) as uow:
        logged = await uow.outbox.after(KEY, 0, 10_000)
    return [e.event.call_id for e in logged if e.event.type == "call.placed"]


async def test_a_retry_replays_the_first_answer_and_places_no_second_call(sb: Harness) -> None:
    first = await post(sb, BODY)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    # The same request written another way (spacing, member order) is the same request.
    again = await post(sb, b'{"to":{"telephoneNumber":"02072068888"},  "from":{"agentId":"1234"}}')
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await calls_placed(sb) == [first.json()["id"]]


async def test_the_key_with_another_body_is_refused(sb: Harness) -> None:
    assert (await post(sb, BODY)).status_code == 201
    other = await post(sb, {**BODY, "to": {"telephoneNumber": "02072069999"}})
    assert other.status_code == 422
    assert other.json() == {
        "message": "This Idempotency-Key was already used with a different request body."
    }
    assert len(await calls_placed(sb)) == 1


async def test_keys_belong_to_their_account(sb: Harness) -> None:
    await sb.create_account("other00001")
    await sb.add_agent("other00001", "1234")
    assert (await post(sb, BODY)).status_code == 201
    response = await sb.client.post(
        "/v0/other00001/calls/",
        json=BODY,
        headers=await sb.headers("other00001", **{"Idempotency-Key": "retry-1"}),
    )
    assert response.status_code == 201 and "idempotent-replayed" not in response.headers


async def test_a_refusal_is_replayed_even_once_the_request_would_succeed(sb: Harness) -> None:
    await sb.set_state("1234", AgentState.AWAY)
    first = await post(sb, BODY)
    assert first.status_code == 400
    await sb.set_state("1234", AgentState.READY)
    again = await post(sb, BODY)
    assert (again.status_code, again.content) == (400, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await calls_placed(sb) == []
    fresh = await post(sb, BODY, key="retry-2")  # a new attempt is a new key
    assert fresh.status_code == 201


async def test_a_key_still_in_flight_answers_409(sb: Harness) -> None:
    await reserve_in_flight(sb, BODY)
    response = await post(sb, BODY)
    assert response.status_code == 409
    assert response.json() == {
        "message": "A request with this Idempotency-Key is still being processed; retry later."
    }
    assert await calls_placed(sb) == []


async def test_a_key_whose_first_request_was_lost_after_placing_answers_with_its_call(
    sb: Harness,
) -> None:
    # A process died after committing the placement, before storing its answer.
    placed = await post(sb, BODY, key=None)
    call_id = placed.json()["id"]
    await reserve_in_flight(sb, BODY, call_id=call_id)
    assert (await post(sb, BODY)).status_code == 409
    sb.clock.advance(IN_FLIGHT_GRACE_S + 1)
    recovered = await post(sb, BODY)
    assert recovered.status_code == 201 and recovered.json()["id"] == call_id
    assert recovered.headers["Idempotent-Replayed"] == "true"
    assert recovered.headers["location"] == placed.headers["location"]
    assert await calls_placed(sb) == [call_id]


async def reserve_in_flight(sb: Harness, body: object, call_id: str | None = None) -> None:
    now = sb.clock.now()
    request = IdempotentRequest(
        KEY,
        "retry-1",
        fingerprint(json.dumps(body).encode()),
        call_id or new_call_id(),
        now,
        now + timedelta(days=1),
    )
    async with sb.ctx.uow() as uow:
        assert await uow.idempotency.reserve(request, now) is None
        await uow.commit()


async def test_an_expired_key_places_a_new_call_and_is_purged(sb: Harness) -> None:
    first = await post(sb, BODY)
    await sb.end(first.json()["id"], Party.ORIGINATOR)
    await sb.set_state("1234", AgentState.READY)
    sb.clock.advance(86401)
    async with sb.ctx.uow(write=False) as uow:
        assert await uow.idempotency.get(KEY, "retry-1", sb.clock.now() - timedelta(1)) is not None
    await scheduler.purge_expired(sb.ctx)
    async with sb.ctx.uow(write=False) as uow:
        assert await uow.idempotency.get(KEY, "retry-1", sb.clock.now() - timedelta(1)) is None
    second = await post(sb, BODY)
    assert second.status_code == 201 and "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]


async def test_a_bad_key_is_a_clear_400(sb: Harness) -> None:
    for bad in ["", "x" * 256, "caf\u00e9".encode()]:
        response = await sb.client.post(
            f"/v0/{KEY}/calls/",
            json=BODY,
            headers={**(await sb.headers()), "Idempotency-Key": bad},
        )
        assert response.status_code == 400, bad
        assert response.json() == {
            "message": "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
        }
    assert await calls_placed(sb) == []


async def test_two_identical_requests_at_once_place_one_call(sb_any: Harness) -> None:
    sb = sb_any
    headers = await sb.headers(**{"Idempotency-Key": "race"})

    async def one() -> httpx.Response:
        return await sb.client.post(f"/v0/{KEY}/calls/", json=BODY, headers=headers)

    responses = await asyncio.gather(*(one() for _ in range(10)))
    fresh = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(fresh) == 1
    for r in responses:  # the others: told it is in flight, or given the same call
        assert r.status_code == 409 or r.json()["id"] == fresh[0].json()["id"], r.text
    assert Counter(r.status_code for r in responses).keys() <= {201, 409}
    assert await calls_placed(sb) == [fresh[0].json()["id"]]
