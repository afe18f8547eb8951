"""Webhooks through /api/v1 and a real receiver on 127.0.0.1 that verifies every request as a
VCC webhook receiver does (tests/support/webhook_receiver.py): subscriptions and their errors,
a whole call delivered in order, retries after a 500, a timeout and a receiver that was down,
dead letters and redelivery, filters, and one failing event holding the later ones back.

Delivery is driven by ``WebhookDispatcher.pass_once`` and the harness's clock (backoffs are
in its time), so nothing here sleeps for a retry."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.service.webhook_delivery import WebhookDispatcher
from tests.support.harness import Harness, close_harness, open_harness
from tests.support.webhook_receiver import Receiver

KEY = "a1b2c3d4e5"
SECRET = base64.b64encode(bytes(range(32))).decode()
CALL = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver(secret=SECRET).start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def fast(tmp_path: Path) -> AsyncIterator[Harness]:
    """Three attempts, a short timeout: the retry tests' harness."""
    harness = await open_harness(
        tmp_path, webhook_max_attempts=3, webhook_timeout_seconds=0.5, webhook_lease_seconds=5
    )
    try:
        yield harness
    finally:
        await close_harness(harness)


def dispatcher(sb: Harness) -> WebhookDispatcher:
    found = sb.runtime.webhooks
    assert found is not None
    return found


async def subscribe(sb: Harness, url: str, **body: Any) -> dict[str, Any]:
    response = await sb.client.post(
        f"/api/v1/accounts/{KEY}/webhooks",
        json={"url": url, "secret": SECRET, **body},
        headers=await sb.headers(),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def log_of(sb: Harness, subscription_id: str) -> list[dict[str, Any]]:
    response = await sb.client.get(
        f"/api/v1/accounts/{KEY}/webhooks/{subscription_id}/deliveries",
        headers=await sb.headers(),
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["deliveries"]))  # oldest first


async def account_log(sb: Harness) -> list[dict[str, Any]]:
    response = await sb.client.get(
        f"/api/v1/accounts/{KEY}/events?limit=1000", headers=await sb.headers()
    )
    return list(response.json()["events"])


async def place(sb: Harness) -> str:
    response = await sb.place(CALL)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_subscription_is_added_listed_shown_and_removed(sb_any: Harness) -> None:
    sb = sb_any
    added = await subscribe(sb, "https://crm.example.com/hooks", events=["call.ended"])
    assert "secret" not in added  # given by the client: never shown back
    assert added["events"] == ["com.switchboard.call.ended"]
    assert added["createdAt"] == added["updatedAt"]
    base = f"/api/v1/accounts/{KEY}/webhooks"
    listed = (await sb.client.get(base, headers=await sb.headers())).json()["webhooks"]
    assert listed == [added]
    one = await sb.client.get(f"{base}/{added['id']}", headers=await sb.headers())
    assert one.json() == added
    gone = await sb.client.delete(f"{base}/{added['id']}", headers=await sb.headers())
    assert gone.status_code == 204
    again = await sb.client.delete(f"{base}/{added['id']}", headers=await sb.headers())
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    assert (await sb.client.get(base, headers=await sb.headers())).json() == {"webhooks": []}


async def test_without_a_secret_the_answer_carries_the_generated_one_once(sb: Harness) -> None:
    response = await sb.client.post(
        f"/api/v1/accounts/{KEY}/webhooks",
        json={"url": "http://127.0.0.1:9/x"},
        headers=await sb.headers(),
    )
    assert response.status_code == 201
    assert len(base64.b64decode(response.json()["secret"], validate=True)) == 32
    shown = await sb.client.get(response.headers["location"], headers=await sb.headers())
    assert "secret" not in shown.json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://crm.example.com/x"}, "url: only http and https URLs can receive webhooks"),
        ({"url": "https:///nohost"}, "url: the URL has no host"),
        ({"url": "http://h:99999/"}, "url: not a valid URL (Port out of range 0-65535)"),
        ({"url": 5}, "url: Input should be a valid string"),
        ({}, "url: Field required"),
        (
            {"url": "http://h/", "secret": "not base64!"},
            "secret: expected the signing key in Base64",
        ),
        (
            {"url": "http://h/", "secret": "c2hvcnQ="},
            "secret: the key must decode to 16 to 512 bytes (this one is 5)",
        ),
        ({"url": "http://h/", "events": "call.ended"}, "events: Input should be a valid list"),
        ({"url": "http://h/", "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
async def test_bad_subscriptions_are_refused_with_a_clear_message(
    sb: Harness, body: dict[str, Any], message: str
) -> None:
    response = await sb.client.post(
        f"/api/v1/accounts/{KEY}/webhooks", json=body, headers=await sb.headers()
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"code": "invalid_parameter", "message": message}


async def test_an_unknown_event_type_is_refused_by_name(sb: Harness) -> None:
    response = await sb.client.post(
        f"/api/v1/accounts/{KEY}/webhooks",
        json={"url": "http://h/", "events": ["call.exploded"]},
        headers=await sb.headers(),
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("events: unknown event type 'call.exploded'")


async def test_webhooks_need_the_accounts_own_token(sb: Harness) -> None:
    base = f"/api/v1/accounts/{KEY}/webhooks"
    assert (await sb.client.get(base)).status_code == 401
    await sb.create_account("other1")
    other = await sb.client.get(base, headers=await sb.headers("other1"))
    assert other.status_code == 403
    put = await sb.client.put(base, headers=await sb.headers())
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST"


async def test_a_whole_call_arrives_in_order_signed_as_the_log_has_it(
    sb_any: Harness, receiver: Receiver
) -> None:
    sb = sb_any
    added = await subscribe(sb, receiver.url)
    await place(sb)
    await sb.advance(2.0 + 60)
    sent = await dispatcher(sb).pass_once()
    expected = await account_log(sb)
    assert sent == len(expected) and len(expected) > 8
    assert [r.event for r in receiver.received] == expected  # same payloads, same order
    assert "call.ended" in receiver.types() and receiver.rejected == []
    for r in receiver.received:
        assert r.claims["exp"] > r.claims["iat"]
    log = await log_of(sb, added["id"])
    assert [(d["eventId"], d["attempt"], d["status"], d["responseCode"]) for d in log] == [
        (e["id"], 1, "delivered", 204) for e in expected
    ]
    assert await dispatcher(sb).pass_once() == 0  # nothing twice


async def test_events_before_the_subscription_are_not_sent(sb: Harness, receiver: Receiver) -> None:
    await place(sb)
    await sb.advance(62)
    await subscribe(sb, receiver.url)
    assert await dispatcher(sb).pass_once() == 0


async def test_a_filter_sends_only_its_types(sb: Harness, receiver: Receiver) -> None:
    await subscribe(sb, receiver.url, events=["com.switchboard.call.ended", "call.placed"])
    await place(sb)
    await sb.advance(62)
    assert await dispatcher(sb).pass_once() == 2
    assert receiver.types() == ["call.placed", "call.ended"]


async def test_a_500_is_retried_after_a_backoff(fast: Harness, receiver: Receiver) -> None:
    sb = fast
    added = await subscribe(sb, receiver.url, events=["call.placed"])
    receiver.failures_left = 2
    await place(sb)
    assert await dispatcher(sb).pass_once() == 1
    assert await dispatcher(sb).pass_once() == 0  # not before its backoff
    sb.clock.advance(1.0)  # the first backoff is 0.5 to 1 s
    assert await dispatcher(sb).pass_once() == 1
    sb.clock.advance(2.0)
    assert await dispatcher(sb).pass_once() == 1
    assert receiver.types() == ["call.placed"]
    log = await log_of(sb, added["id"])
    assert [(d["attempt"], d["status"], d["responseCode"], d["error"]) for d in log] == [
        (1, "failed", 500, "HTTP 500"),
        (2, "failed", 500, "HTTP 500"),
        (3, "delivered", 204, None),
    ]


async def test_a_timeout_is_a_failure_retried(fast: Harness, receiver: Receiver) -> None:
    sb = fast
    added = await subscribe(sb, receiver.url, events=["call.placed"])
    receiver.delay_s = 1.5  # past the 0.5 s timeout
    await place(sb)
    assert await dispatcher(sb).pass_once() == 1
    receiver.delay_s = 0
    sb.clock.advance(1.0)
    assert await dispatcher(sb).pass_once() == 1
    log = await log_of(sb, added["id"])
    assert [(d["status"], d["responseCode"], d["error"]) for d in log] == [
        ("failed", None, "timed out"),
        ("delivered", 204, None),
    ]


async def test_a_receiver_down_then_back_gets_the_event(fast: Harness, receiver: Receiver) -> None:
    sb = fast
    added = await subscribe(sb, receiver.url, events=["call.placed"])
    await receiver.stop()
    await place(sb)
    assert await dispatcher(sb).pass_once() == 1
    await receiver.start()  # the same port
    sb.clock.advance(1.0)
    assert await dispatcher(sb).pass_once() == 1
    assert receiver.types() == ["call.placed"]
    log = await log_of(sb, added["id"])
    assert log[0]["status"] == "failed" and log[0]["responseCode"] is None
    assert "ConnectError" in log[0]["error"]
    assert log[1]["status"] == "delivered"


async def test_a_failing_event_holds_the_later_ones_back_until_it_is_done(
    fast: Harness, receiver: Receiver
) -> None:
    sb = fast
    await subscribe(sb, receiver.url, events=["call.placed", "call.ended"])
    receiver.failures_left = 1
    await place(sb)
    await sb.advance(62)  # placed and ended are both committed
    assert await dispatcher(sb).pass_once() == 1  # placed failed; ended waits behind it
    assert receiver.received == []
    sb.clock.advance(1.0)
    assert await dispatcher(sb).pass_once() == 2
    assert receiver.types() == ["call.placed", "call.ended"]


async def test_dead_after_the_last_attempt_then_redelivered(
    fast: Harness, receiver: Receiver
) -> None:
    sb = fast
    added = await subscribe(sb, receiver.url, events=["call.placed"])
    receiver.failures_left = 3
    await place(sb)
    for _ in range(3):
        assert await dispatcher(sb).pass_once() == 1
        sb.clock.advance(10)
    log = await log_of(sb, added["id"])
    assert [d["status"] for d in log] == ["failed", "failed", "dead"]
    assert receiver.received == []
    # The subscription goes on past the dead event (the agent out of wrap-up first).
    await sb.advance(300)
    await place(sb)
    assert await dispatcher(sb).pass_once() == 1
    assert len(receiver.received) == 1
    dead_id = log[-1]["eventId"]
    response = await sb.client.post(
        f"/api/v1/accounts/{KEY}/webhooks/{added['id']}/redeliver",
        json={"eventId": dead_id},
        headers=await sb.headers(),
    )
    assert response.status_code == 202, response.text
    sb.clock.advance(1)  # the log is newest first, by the time an attempt started
    assert await dispatcher(sb).pass_once() == 1
    assert receiver.received[-1].event["id"] == dead_id
    newest = (await log_of(sb, added["id"]))[-1]
    assert (newest["eventId"], newest["attempt"], newest["status"], newest["redelivery"]) == (
        dead_id,
        4,
        "delivered",
        True,
    )


async def test_redeliver_refuses_an_event_the_account_does_not_have(sb: Harness) -> None:
    added = await subscribe(sb, "http://127.0.0.1:9/x")
    url = f"/api/v1/accounts/{KEY}/webhooks/{added['id']}/redeliver"
    unknown = await sb.client.post(
        url, json={"eventId": "6f0c1d5e-9a55-4b53-9b8e-2f5c8c1a7e10"}, headers=await sb.headers()
    )
    assert unknown.status_code == 404
    bad = await sb.client.post(url, content=b"{", headers=await sb.headers())
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_json"
