"""Webhooks from real server processes to a real receiver that verifies every signature:
``kill -9`` between the commit and the delivery, and between the receiver's 2xx and the
cursor's commit, loses no event; a receiver that takes 2 s does not slow placements."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.harness import PostgresDatabase, postgres_url
from tests.support.nodes import KEY, Node, nodes, provision
from tests.support.webhook_receiver import Receiver, ReceiverThread, wait_received

pytestmark = pytest.mark.slow

FAST = {
    "SWITCHBOARD_SIMULATOR_ANSWER_MS": "100",
    "SWITCHBOARD_SIMULATOR_TALK_SECONDS": "0.5",
    "SWITCHBOARD_WEBHOOK_POLL_SECONDS": "0.2",
    "SWITCHBOARD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    # The receiver listens on 127.0.0.1, which service refuses by default.
    "SWITCHBOARD_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.1/32"]',
}
PHONE = "sim:answer?after=100"
TO_NUMBER = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nodes.db'}"
        return
    database = PostgresDatabase(postgres_url())
    url = asyncio.run(database.create())
    try:
        yield url
    finally:
        asyncio.run(database.drop())


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def subscribe(base: str, token: str, receiver: Receiver) -> str:
    response = httpx.post(
        f"{base}/api/v1/accounts/{KEY}/webhooks",
        json={"url": receiver.url, "secret": receiver.secret},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def place(base: str, token: str, body: dict[str, Any]) -> str:
    response = httpx.post(f"{base}/v0/{KEY}/calls/", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def logged_ids(base: str, token: str, after: str) -> list[str]:
    """The account's events after the subscription's first, in the log's order."""
    events = httpx.get(
        f"{base}/api/v1/accounts/{KEY}/events?limit=1000", headers=auth(token)
    ).json()["events"]
    ids = [e["id"] for e in events]
    return ids[ids.index(after) :]


def in_order_once_each(receiver: Receiver) -> list[str]:
    seen: list[str] = []
    for r in receiver.received:
        if r.event["id"] not in seen:
            seen.append(r.event["id"])
    return seen


def call_ended(base: str, token: str, call_id: str) -> bool:
    found = httpx.get(f"{base}/v0/{KEY}/calls/{call_id}", headers=auth(token)).json()
    return bool(found.get("result"))


def wait_until(check: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not reached within {within} s"
        time.sleep(0.05)


def test_a_kill_after_the_receivers_2xx_before_the_cursor_commits_sends_it_again(
    shared_db: str, tmp_path: Path
) -> None:
    db = shared_db
    token = provision(db, tmp_path, "none", [], PHONE)
    with ReceiverThread() as receiver, nodes() as started:
        killed = {"SWITCHBOARD_FAULT_POINT": "webhook.sent"}
        a = Node(db, "node-1", tmp_path, env={**FAST, **killed})
        started.append(a)
        subscribe(a.base, token, receiver)
        place(a.base, token, TO_NUMBER)
        wait_until(lambda: not a.alive, within=15)
        assert a.kill() == -9  # it killed itself right after the first 2xx
        assert len(receiver.received) == 1
        first = receiver.received[0].event["id"]
        b = Node(db, "node-1", tmp_path, env=FAST)  # the same node, back
        started.append(b)
        wait_until(lambda: "call.ended" in receiver.types(), within=20)
        expected = logged_ids(b.base, token, first)
        wait_received(receiver, expected, within_s=20)
        assert in_order_once_each(receiver) == expected
        assert [r.event["id"] for r in receiver.received[:2]] == [first, first]  # at least once
        assert receiver.rejected == []


def test_events_committed_while_the_receiver_is_down_survive_a_kill(
    shared_db: str, tmp_path: Path
) -> None:
    db = shared_db
    token = provision(db, tmp_path, "none", [], PHONE)
    thread = ReceiverThread()
    with thread as receiver, nodes() as started:
        thread.stop()  # down: every attempt is refused
        a = Node(db, "node-1", tmp_path, env=FAST)
        started.append(a)
        subscribe(a.base, token, receiver)
        call_id = place(a.base, token, TO_NUMBER)
        wait_until(lambda: call_ended(a.base, token, call_id), within=10)
        assert a.kill() == -9
        thread.start()  # back, on the same port
        b = Node(db, "node-1", tmp_path, env=FAST)
        started.append(b)
        wait_until(lambda: "call.ended" in receiver.types(), within=20)
        events = httpx.get(
            f"{b.base}/api/v1/accounts/{KEY}/calls/{call_id}/events", headers=auth(token)
        ).json()["events"]
        assert [r.event for r in receiver.received if r.event.get("subject") == call_id] == events
        assert receiver.rejected == []


def _latencies(base: str, token: str, count: int) -> list[float]:
    body = {"from": {"groups": ["slow"]}, "to": {"telephoneNumber": "02072068888"}}
    taken = []
    with httpx.Client(base_url=base, headers=auth(token)) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.post(f"/v0/{KEY}/calls/", json=body)
            taken.append(time.perf_counter() - started)
            assert response.status_code == 201, response.text
    return taken


def test_a_receiver_that_takes_two_seconds_does_not_slow_placements(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'slow.db'}"
    agents = [str(50000 + n) for n in range(24)]
    token = provision(db, tmp_path, "slow", agents, PHONE)
    with ReceiverThread(Receiver(delay_s=2.0)) as receiver, nodes() as started:
        a = Node(db, "node-1", tmp_path, env=FAST)
        started.append(a)
        _latencies(a.base, token, 3)  # warm: connections, caches
        time.sleep(2.5)  # those calls over, their agents out of wrap-up
        without = _latencies(a.base, token, 10)
        time.sleep(2.5)
        subscribe(a.base, token, receiver)
        with_slow = _latencies(a.base, token, 10)
        # The receiver is being sent to (and takes 2 s each) while the placements ran.
        wait_until(lambda: len(receiver.requests) >= 1, within=5)
        assert max(with_slow) < 1.0, with_slow
        median_without, median_with = statistics.median(without), statistics.median(with_slow)
        print(
            f"placement median: {median_without * 1000:.1f} ms without, {median_with * 1000:.1f} ms with"
        )
        assert median_with < 3 * median_without + 0.05, (without, with_slow)
        assert receiver.rejected == []


def test_two_nodes_on_one_database_deliver_each_event_once_in_order(
    shared_db: str, tmp_path: Path
) -> None:
    db = shared_db
    agents = [str(60000 + n) for n in range(8)]
    token = provision(db, tmp_path, "pair", agents, PHONE)
    body = {"from": {"groups": ["pair"]}, "to": {"telephoneNumber": "02072068888"}}
    with ReceiverThread() as receiver, nodes() as started:
        a = Node(db, "node-a", tmp_path, env=FAST)
        b = Node(db, "node-b", tmp_path, env=FAST)
        started += [a, b]
        subscribe(a.base, token, receiver)
        calls = [place(node.base, token, body) for node in (a, b, a, b, a, b)]
        wait_until(lambda: all(call_ended(a.base, token, c) for c in calls), within=20)
        first_call_events = httpx.get(
            f"{a.base}/api/v1/accounts/{KEY}/calls/{calls[0]}/events", headers=auth(token)
        ).json()["events"]
        time.sleep(2.0)  # the agents' one-second wrap-ups end (more events)
        expected = logged_ids(a.base, token, first_call_events[0]["id"])
        wait_received(receiver, expected, within_s=20)
        time.sleep(1.0)  # a duplicate, were there one, would come now
        received = [r.event["id"] for r in receiver.received]
        assert logged_ids(a.base, token, first_call_events[0]["id"]) == expected  # no more
        assert received == expected  # once each, in the log's order
        assert receiver.rejected == []
