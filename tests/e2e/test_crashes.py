"""Crashes and lost nodes, with real server processes killed with SIGKILL: a kill between
claiming a deadline and its effect loses no timer; a node that dies is taken over by a
survivor within the takeover time; 20 rounds of kills under load leave every acknowledged
call ended with its result, every agent free and every deadline fired."""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.domain.agents import AgentState
from switchboard.domain.calls import CallResult, Party, Reason
from tests.support.harness import PostgresDatabase, postgres_url
from tests.support.nodes import (
    HEARTBEAT_S,
    IDLE_IN_TRANSACTION_S,
    KEY,
    TAKEOVER_S,
    Node,
    nodes,
    provision,
    stored_agents,
    stored_call,
    stored_calls,
    stored_event_kinds,
    taken_over,
)
from tests.support.sipp import SippPeer, free_port, sipp_available

pytestmark = pytest.mark.slow

# The simulator, fast: agents answer after 100 ms, destinations after 100 ms, 0.5 s of talk.
FAST = {"SWITCHBOARD_SIMULATOR_ANSWER_MS": "100", "SWITCHBOARD_SIMULATOR_TALK_SECONDS": "0.5"}
PHONE = "sim:answer?after=100"
ANSWERED = {"code": "Success", "party": "Destination", "reason": "Normal"}
BUSY_NUMBER = "02072060486"
# The crash loops stop at 20 rounds, or at this many seconds (a safety cap: 20-35 s is usual,
# a node's start-up slows under a shared machine's load), which fails them.
ROUNDS_CAP_S = 120
BUSY = CallResult.failure(Party.DESTINATION, Reason.NUMBER_BUSY)
# What a loaded machine adds to a takeover: a heartbeat to notice, one more to act, polling.
SLACK_S = 2 * HEARTBEAT_S + 2.0


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


def place(base: str, token: str, body: dict[str, Any]) -> str:
    response = httpx.post(
        f"{base}/v0/{KEY}/calls/", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def calls_of(base: str, token: str, ids: list[str]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        return [client.get(f"/v0/{KEY}/calls/{call_id}").json() for call_id in ids]


def wait_until(check: Any, within: float) -> float:
    """Seconds until ``check()`` held; fails once ``within`` has passed."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not reached within {within} s")
        time.sleep(0.05)
    return time.monotonic() - started


def group_ids(first: int, count: int) -> list[str]:
    return [str(first + n) for n in range(count)]


def test_a_kill_between_claiming_a_deadline_and_its_effect_loses_no_timer(
    shared_db: str, tmp_path: Path
) -> None:
    db = shared_db
    token = provision(db, tmp_path, "none", [], PHONE)
    with nodes() as started:
        fault = {**FAST, "SWITCHBOARD_FAULT_POINT": "deadline_claimed"}
        node = Node(db, "node-a", tmp_path, env=fault)
        started.append(node)
        # The agent answers, the destination is busy: two steps, each a deadline.
        call_id = place(
            node.base,
            token,
            {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072060486"}},
        )
        assert node.proc.wait(15) == -9  # it died at the first deadline it claimed
        node.kill()
        assert "fault point deadline_claimed reached" in node.log.read_text()
        left = stored_call(db, call_id)
        assert left.is_active and left.deadline_at is not None  # the timer is still there

        again = Node(db, "node-a", tmp_path, env=FAST)
        started.append(again)
        wait_until(lambda: not stored_call(db, call_id).is_active, within=10)
        (got,) = calls_of(again.base, token, [call_id])
        assert got["result"] == {"code": "Failure", "party": "Destination", "reason": "NumberBusy"}
        agent = stored_agents(db)["1234"]
        assert agent.current_call_id is None and agent.state is not AgentState.BUSY_OUTGOING


def test_a_lost_nodes_simulated_calls_are_driven_by_a_survivor(
    shared_db: str, tmp_path: Path
) -> None:
    db = shared_db
    agents = group_ids(40000, 6)
    token = provision(db, tmp_path, "loss", agents, PHONE)
    body = {"from": {"groups": ["loss"]}, "to": {"telephoneNumber": "02072068888"}}
    with nodes() as started:
        a = Node(db, "node-a", tmp_path, env=FAST)
        b = Node(db, "node-b", tmp_path, env=FAST)
        started += [a, b]
        ids = [place(a.base, token, body) for _ in agents]
        assert a.kill() == -9
        killed = time.monotonic()

        def advanced() -> bool:
            return all(c["recordingStatus"] != "Stopped" for c in calls_of(b.base, token, ids))

        wait_until(advanced, within=TAKEOVER_S + SLACK_S)  # connected, or over already
        took = time.monotonic() - killed
        wait_until(lambda: all(c["result"] for c in calls_of(b.base, token, ids)), within=5)
        assert [c["result"] for c in calls_of(b.base, token, ids)] == [ANSWERED] * len(ids)
        assert taken_over(db, "node-a") == "node-b"

        def freed() -> bool:
            found = stored_agents(db)
            return all(
                found[i].state is AgentState.READY and found[i].current_call_id is None
                for i in agents
            )

        wait_until(freed, within=5)  # after their one-second wrap-up
        # "node-a" comes back: it leaves what was taken to "node-b" and serves again.
        back = Node(db, "node-a", tmp_path, env=FAST)
        started.append(back)
        assert taken_over(db, "node-a") is None
        fresh = place(back.base, token, body)
        wait_until(lambda: calls_of(back.base, token, [fresh])[0]["result"], within=5)
        time.sleep(TAKEOVER_S + 2 * HEARTBEAT_S)
        assert taken_over(db, "node-a") is None and taken_over(db, "node-b") is None
        assert [c["result"] for c in calls_of(b.base, token, ids)] == [ANSWERED] * len(ids)
        print(f"takeover: {len(ids)} calls of a killed node advanced {took:.2f} s after the kill")


@pytest.mark.sip
@pytest.mark.skipif(not sipp_available(), reason="sipp is not installed (Debian sip-tester)")
async def test_a_lost_nodes_sip_calls_end_as_call_failed_and_free_their_agents(
    shared_db: str, tmp_path: Path
) -> None:
    phone = SippPeer(Path(__file__).parents[1] / "sip" / "scenarios" / "noanswer.xml", tmp_path)
    await phone.start()
    try:  # the nodes are driven from a thread: their helpers run event loops of their own
        await asyncio.to_thread(_lose_a_sip_node, shared_db, tmp_path, phone.uri())
    finally:
        await phone.stop()


def _lose_a_sip_node(db: str, tmp_path: Path, phone: str) -> None:
    token = provision(db, tmp_path, "none", [], phone)

    def sip(node_id: str) -> Node:
        env = {
            "SWITCHBOARD_TELEPHONY": "sip",
            "SWITCHBOARD_SIP_BIND_PORT": str(free_port()),
            "SWITCHBOARD_SIP_T1_MS": "50",
            "SWITCHBOARD_SIP_TRUNK_HOST": "127.0.0.1",
            "SWITCHBOARD_SIP_TRUNK_PORT": str(free_port()),
        }
        return Node(db, node_id, tmp_path, env=env)

    with nodes() as started:
        a, b = sip("node-a"), sip("node-b")
        started += [a, b]
        body = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}
        call_id = place(a.base, token, body)  # the agent's phone rings (and never answers)
        assert stored_agents(db)["1234"].state is AgentState.BUSY_OUTGOING
        assert a.kill() == -9
        took = wait_until(
            lambda: calls_of(b.base, token, [call_id])[0]["result"],
            within=TAKEOVER_S + SLACK_S,
        )
        (got,) = calls_of(b.base, token, [call_id])
        assert got["result"] == {"code": "Failure", "party": "Originator", "reason": "CallFailed"}
        agent = stored_agents(db)["1234"]
        assert agent.state is AgentState.READY and agent.current_call_id is None
        print(f"takeover: the SIP call of a killed node ended {took:.2f} s after the kill")


@pytest.mark.sip
@pytest.mark.skipif(not sipp_available(), reason="sipp is not installed (Debian sip-tester)")
async def test_a_sip_node_paused_past_the_takeover_hangs_up_and_does_not_fight(
    shared_db: str, tmp_path: Path
) -> None:
    """SIGSTOP, not SIGKILL: the node is alive but silent. Its successor ends its call; once
    resumed, it cancels the ringing phone (which the scenario requires) and leaves the
    result alone."""
    phone = SippPeer(Path(__file__).parents[1] / "sip" / "scenarios" / "noanswer.xml", tmp_path)
    await phone.start()
    try:
        await asyncio.to_thread(_pause_a_sip_node, shared_db, tmp_path, phone.uri())
        assert await phone.wait(15) == 0, phone.report()  # CANCEL came, 487 went, ACK came
    finally:
        await phone.stop()


def _sip_node(db: str, node_id: str, tmp_path: Path) -> Node:
    env = {
        "SWITCHBOARD_TELEPHONY": "sip",
        "SWITCHBOARD_SIP_BIND_PORT": str(free_port()),
        "SWITCHBOARD_SIP_T1_MS": "50",
        "SWITCHBOARD_SIP_TRUNK_HOST": "127.0.0.1",
        "SWITCHBOARD_SIP_TRUNK_PORT": str(free_port()),
    }
    return Node(db, node_id, tmp_path, env=env)


def _pause_a_sip_node(db: str, tmp_path: Path, phone: str) -> None:
    token = provision(db, tmp_path, "none", [], phone)
    failed = {"code": "Failure", "party": "Originator", "reason": "CallFailed"}
    with nodes() as started:
        a, b = _sip_node(db, "node-a", tmp_path), _sip_node(db, "node-b", tmp_path)
        started += [a, b]
        body = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}
        call_id = place(a.base, token, body)
        # Stopped between its writes, once the agent's ringing (written just after the 201)
        # is committed: a process stopped in the middle of one holds its locks (SQLite's write
        # lock; on PostgreSQL a statement whose messages were half sent), which nothing bounds
        # (docs/operations.md, "Several nodes"). One stopped idle inside a transaction is
        # ended by PostgreSQL: tests/contract/test_paused_session.py.
        wait_until(
            lambda: "AgentLegRinging" in stored_event_kinds(db, [call_id])[call_id], within=10
        )
        a.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(
                lambda: calls_of(b.base, token, [call_id])[0]["result"],
                within=TAKEOVER_S + SLACK_S + IDLE_IN_TRANSACTION_S,
            )
            assert taken_over(db, "node-a") == "node-b"
        finally:
            a.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: taken_over(db, "node-a") is None, within=10)  # registered again
        wait_until(lambda: "hung up 1 calls" in a.log.read_text(), within=10)
        time.sleep(1)  # the phone's 487 and the engine's report for it: ignored
        assert a.alive
        assert calls_of(b.base, token, [call_id])[0]["result"] == failed
        agent = stored_agents(db)["1234"]
        assert agent.state is AgentState.READY and agent.current_call_id is None


class Load:
    """Group calls placed without pause by a few workers in a thread of their own, on
    whichever nodes are up; the ids answered 201 are kept."""

    def __init__(self, token: str, group: str) -> None:
        self.bases: list[str] = []
        self.acknowledged: list[str] = []
        self.busy: set[str] = set()  # the calls to a busy number, among those acknowledged
        self.answers: Counter[int | str] = Counter()
        self._token, self._group = token, group
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """No more calls; returns once the last answer is in."""
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()

    async def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        # One call in four to a busy number: the agent answers, then the destination fails
        # at once (a deadline of its own); the others are answered and talk.
        numbers = ["02072068888"] * 3 + [BUSY_NUMBER]
        async with httpx.AsyncClient(headers=headers, timeout=5) as client:

            async def worker() -> None:
                while not self._stop.is_set():
                    if not self.bases:
                        await asyncio.sleep(0.02)
                        continue
                    base = random.choice(self.bases)
                    number = random.choice(numbers)
                    body = {"from": {"groups": [self._group]}, "to": {"telephoneNumber": number}}
                    try:
                        response = await client.post(f"{base}/v0/{KEY}/calls/", json=body)
                    except httpx.HTTPError:
                        self.answers["no answer"] += 1  # killed under the request
                        await asyncio.sleep(0.02)
                        continue
                    self.answers[response.status_code] += 1
                    if response.status_code == 201:
                        self.acknowledged.append(response.json()["id"])
                        if number == BUSY_NUMBER:
                            self.busy.add(response.json()["id"])
                    else:
                        await asyncio.sleep(0.05)  # every agent busy: a moment

            await asyncio.gather(*(worker() for _ in range(6)))


def settled(db: str, load: Load, agents: list[str], within: float) -> float:
    """Waits until every acknowledged call has ended and every agent is free again, then
    checks that each call went through each of its deadlines, once, in order."""

    def done() -> bool:
        found = {c.id: c for c in stored_calls(db)}
        ended = all(i in found and not found[i].is_active for i in load.acknowledged)
        agents_now = stored_agents(db)
        free = all(
            agents_now[i].state is AgentState.READY and agents_now[i].current_call_id is None
            for i in agents
        )
        return ended and free

    try:
        took = wait_until(done, within)
    except AssertionError:
        found = {c.id: c for c in stored_calls(db)}
        stuck_calls = [
            (i, found[i].phase, found[i].deadline_tag, found[i].deadline_at, found[i].node_id)
            for i in load.acknowledged
            if i not in found or found[i].is_active
        ]
        agents_now = stored_agents(db)
        stuck_agents = [
            (i, agents_now[i].state, agents_now[i].current_call_id)
            for i in agents
            if agents_now[i].state is not AgentState.READY or agents_now[i].current_call_id
        ]
        raise AssertionError(f"not settled: calls {stuck_calls}, agents {stuck_agents}") from None
    found = {c.id: c for c in stored_calls(db)}
    assert not [c.id for c in found.values() if c.is_active or c.deadline_at is not None]
    for call_id in load.acknowledged:
        call = found[call_id]
        if call_id in load.busy:
            # Agent answered, then the destination's failure: each deadline took effect.
            assert call.result == BUSY, (call_id, call.result)
            assert call.created_at < call.agent_answered_at <= call.ended_at
            assert call.connected_at is None
            continue
        assert call.result == CallResult.hung_up(Party.DESTINATION), (call_id, call.result)
        # Agent answered, destination answered, talk over: each deadline took effect, in
        # order. (The talk is counted from when the simulator took the answer, which the
        # connection's commit stamps later, by as much as the load delays it: not compared.)
        assert call.created_at < call.agent_answered_at < call.connected_at < call.ended_at
    # Each effect once: a deadline fired twice, or a step applied twice, would log its event
    # twice; a lost one would leave no terminal event.
    for call_id, kinds in stored_event_kinds(db, load.acknowledged).items():
        assert kinds.count("CallEnded") == 1, (call_id, kinds)
        assert len(kinds) == len(set(kinds)), (call_id, kinds)
        assert "AgentLegAnswered" in kinds, (call_id, kinds)
        assert ("CallConnected" in kinds) is (call_id not in load.busy), (call_id, kinds)
    return took


def test_twenty_kills_under_load_on_one_node(shared_db: str, tmp_path: Path) -> None:
    db = shared_db
    agents = group_ids(50000, 30)
    token = provision(db, tmp_path, "crash", agents, PHONE)
    rng = random.Random(7)
    began = time.monotonic()
    rounds = 0
    with nodes() as started, Load(token, "crash") as load:
        while rounds < 20 and time.monotonic() - began < ROUNDS_CAP_S:
            node = Node(db, "solo", tmp_path, env=FAST)
            started.append(node)
            load.bases = [node.base]
            time.sleep(rng.uniform(0.3, 0.9))
            load.bases = []
            assert node.kill() == -9
            rounds += 1
        last = Node(db, "solo", tmp_path, env=FAST)
        started.append(last)
        load.stop()
        took = settled(db, load, agents, within=15)
    assert rounds == 20
    assert len(load.acknowledged) >= 20, load.answers
    print(
        f"one node: {rounds} kills in {time.monotonic() - began - took:.1f} s, "
        f"{sum(load.answers.values())} requests {dict(load.answers)}, "
        f"{len(load.acknowledged)} calls answered 201 ({len(load.busy)} to a busy number), "
        "each ended with its result; "
        f"settled {took:.1f} s after the last kill"
    )


def test_twenty_kills_under_load_on_two_nodes(shared_db: str, tmp_path: Path) -> None:
    """Each round kills one of the two nodes; it comes back under its own id in one round
    and under a new id in the next, so that its old id's calls must be taken over."""
    db = shared_db
    agents = group_ids(60000, 30)
    token = provision(db, tmp_path, "crash", agents, PHONE)
    rng = random.Random(11)
    began = time.monotonic()
    rounds = 0
    abandoned: list[str] = []
    with nodes() as started, Load(token, "crash") as load:
        pair = [Node(db, "n0", tmp_path, env=FAST), Node(db, "n1", tmp_path, env=FAST)]
        started += pair
        load.bases = [n.base for n in pair]
        while rounds < 20 and time.monotonic() - began < ROUNDS_CAP_S:
            time.sleep(rng.uniform(0.3, 0.9))
            victim = pair[rounds % 2]
            load.bases = [n.base for n in pair if n is not victim]
            assert victim.kill() == -9
            node_id = victim.node_id
            if rounds % 4 >= 2:  # back under a new id: the old one is left to a survivor
                abandoned.append(node_id)
                node_id = f"{node_id.split('-')[0]}-{rounds}"
            pair[rounds % 2] = Node(db, node_id, tmp_path, env=FAST)
            started.append(pair[rounds % 2])
            load.bases = [n.base for n in pair]
            rounds += 1
        load.stop()
        took = settled(db, load, agents, within=TAKEOVER_S + 15)
        survivors = {n.node_id for n in pair}
        for node_id in abandoned:
            assert taken_over(db, node_id) is not None, node_id
        assert all(taken_over(db, node_id) is None for node_id in survivors)
    assert rounds == 20
    assert len(load.acknowledged) >= 20, load.answers
    print(
        f"two nodes: {rounds} kills ({len(abandoned)} ids never back) in "
        f"{time.monotonic() - began - took:.1f} s, {sum(load.answers.values())} requests "
        f"{dict(load.answers)}, {len(load.acknowledged)} calls answered 201 "
        f"({len(load.busy)} to a busy number), each ended with its result; settled {took:.1f} s after the last kill"
    )
