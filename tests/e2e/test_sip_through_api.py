"""Calls placed through the V0 API of a real server process connect real SIP peers (SIPp),
over UDP and TCP: the agent's phone rings first, then the trunk, and the two are joined."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sip.sip_harness import RECEIVE_BYE, RINGING, SCENARIOS, send_bye
from tests.support.sipp import SippPeer, free_port, sipp_available

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(not sipp_available(), reason="sipp is not installed (Debian sip-tester)"),
]

KEY = "a1b2c3d4e5"
CLID_IN_FROM = r"sip:\+441256636451@"  # the demo account's default callback number
CALL = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


class SipServer:
    """``switchboard serve --demo`` with the SIP engine, its trunk pointed at a SIPp peer."""

    def __init__(self, db: str, transport: str, trunk_port: int, log: Path | None = None) -> None:
        self.db = db
        self.log = log or Path(db.removeprefix("sqlite:///") + ".log")
        self.env = {
            **os.environ,
            "SWITCHBOARD_TELEPHONY": "sip",
            "SWITCHBOARD_SIP_BIND_PORT": str(free_port()),
            "SWITCHBOARD_SIP_T1_MS": "50",
            "SWITCHBOARD_SIP_TRUNK_HOST": "127.0.0.1",
            "SWITCHBOARD_SIP_TRUNK_PORT": str(trunk_port),
            "SWITCHBOARD_SIP_TRUNK_TRANSPORT": transport,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self._log_file: Any = None
        self.base = ""
        self.lines: dict[str, str] = {}

    async def start(self) -> None:
        self._log_file = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "switchboard",
            "serve",
            "--port",
            "0",
            "--demo",
            "--database",
            self.db,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_file,
            env=self.env,
        )
        assert self.proc.stdout is not None
        first = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode().strip()
        assert first.startswith("Listening on "), first
        self.base = first.removeprefix("Listening on ")
        while "Try" not in self.lines:
            label, _, value = (await self.proc.stdout.readline()).decode().strip().partition(": ")
            self.lines[label] = value

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.lines['Bearer token']}"}

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.communicate(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.communicate()
        finally:
            self._log_file.close()
        return self.proc.returncode if self.proc.returncode is not None else -1


async def set_phone(db: str, agent_id: str, uri: str, destination_timeout: float = 60) -> None:
    """The agent's phone, and the account's destination ring time (25 s or less: flow I)."""
    from switchboard.bootstrap import build
    from switchboard.config import load_settings
    from switchboard.service import provisioning
    from switchboard.service.provisioning import AccountOptions, AgentOptions

    runtime = await build(load_settings(database_url=db), open_engine=False)
    try:
        await provisioning.update_agent(runtime.ctx, KEY, agent_id, AgentOptions(phone=uri))
        await provisioning.update_account(
            runtime.ctx, KEY, AccountOptions(destination_timeout_s=destination_timeout)
        )
    finally:
        await runtime.close()


async def cli(db: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard",
        *args,
        "--database",
        db,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


class Peers:
    def __init__(self, workdir: Path, transport: str) -> None:
        self.workdir, self.transport = workdir, transport
        self.started: list[SippPeer] = []

    async def peer(self, scenario: str, ring_ms: int = 100, **values: str) -> SippPeer:
        peer = SippPeer(
            SCENARIOS / scenario,
            self.workdir,
            transport=self.transport,
            values=values,
            ring_ms=ring_ms,
        )
        await peer.start()
        self.started.append(peer)
        return peer

    async def passed(self) -> None:
        for peer in self.started:
            status = await peer.wait(20)
            assert status == 0, f"sipp {peer.name} exited {status}:\n{peer.report()}"

    async def stop(self) -> None:
        for peer in self.started:
            await peer.stop()


@pytest.fixture(params=["udp", "tcp"])
async def peers(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Peers]:
    found = Peers(tmp_path, request.param)
    try:
        yield found
    finally:
        await found.stop()


async def wait_for_call(
    client: httpx.AsyncClient, call_id: str, done: Any, within: float = 15
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        got = (await client.get(f"/v0/{KEY}/calls/{call_id}")).json()
        if done(got) or loop.time() > give_up:
            return got
        await asyncio.sleep(0.05)


async def call_events(client: httpx.AsyncClient, call_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/accounts/{KEY}/calls/{call_id}/events")
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


async def test_a_call_placed_through_the_api_connects_agent_and_trunk(
    peers: Peers, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    # The demo account rings destinations for 60 s: more than flow I allows, so flow IV.
    agent = await peers.peer("agent_flow4.xml", HANGUP=RECEIVE_BYE)
    trunk = await peers.peer("trunk_flow4.xml", ORIGIN="trunk", HANGUP=send_bye(1500))
    server = SipServer(db, peers.transport, trunk.port)
    await server.start()
    try:
        await set_phone(db, "1234", agent.uri())
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            created = await client.post(f"/v0/{KEY}/calls/", json=CALL)
            assert created.status_code == 201, created.text
            call_id = created.json()["id"]
            connected = await wait_for_call(
                client, call_id, lambda c: c["recordingStatus"] == "Started"
            )
            assert connected["status"] == "Active", connected
            ended = await wait_for_call(client, call_id, lambda c: c["result"] is not None)
            assert ended["result"] == {
                "code": "Success",
                "party": "Destination",
                "reason": "Normal",
            }
            assert ended["from"]["agentId"] == "1234"
            events = await call_events(client, call_id)
            kinds = [e["type"].removeprefix("com.switchboard.call.") for e in events]
            assert kinds[0] == "placed" and kinds[-1] == "ended" and kinds.count("ended") == 1
            for step in ("agent.answered", "destination.answered", "connected"):
                assert step in kinds, kinds
            assert kinds.index("agent.answered") < kinds.index("connected")
            assert events[-1]["data"]["hungUpBy"] == "destination"
        agents = {
            json.loads(line)["id"]: json.loads(line)
            for line in (await cli(db, "agents", "list", KEY, "--json")).splitlines()
        }
        assert agents["1234"]["state"] == "Wrapup"
        await peers.passed()
    finally:
        assert await server.stop() == 0


async def test_a_busy_agent_phone_answers_the_post_with_agent_busy(
    peers: Peers, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    agent = await peers.peer("reject.xml", PROVISIONAL="", CODE="486", REASON="Busy Here")
    server = SipServer(db, peers.transport, free_port())
    await server.start()
    try:
        await set_phone(db, "1234", agent.uri())
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            response = await client.post(f"/v0/{KEY}/calls/", json=CALL)
            assert response.status_code == 400
            assert response.json() == {"message": "Unable to place call - Agent number busy"}
            calls = await cli(db, "calls", "list", KEY, "--json")
            assert calls.strip() == ""  # a 400 leaves no trace
            # But its placement had been committed and told: the log ends it, once.
            log = (await client.get(f"/api/v1/accounts/{KEY}/events")).json()["events"]
            kinds = [e["type"].removeprefix("com.switchboard.") for e in log]
            assert kinds == ["call.placed", "call.agent.failed", "call.ended"], kinds
            end = log[-1]["data"]
            assert end["result"] == {
                "code": "Failure",
                "party": "Originator",
                "reason": "NumberBusy",
            }
            assert (end["started"], end["hungUpBy"]) == (False, "agent")
        await peers.passed()
    finally:
        await server.stop()


async def test_ending_from_the_cli_and_stopping_the_server_hang_up_with_bye(
    peers: Peers, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    first_agent = await peers.peer("agent_flow4.xml", HANGUP=RECEIVE_BYE)
    trunk = await peers.peer(
        "trunk_flow4.xml", ORIGIN="trunk", FROM_RE=CLID_IN_FROM, HANGUP=RECEIVE_BYE
    )
    server = SipServer(db, peers.transport, trunk.port)
    await server.start()
    stopped = False
    try:
        await set_phone(db, "1234", first_agent.uri(), destination_timeout=20)
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            call_id = (await client.post(f"/v0/{KEY}/calls/", json=CALL)).json()["id"]
            await wait_for_call(client, call_id, lambda c: c["recordingStatus"] == "Started")
            # The CLI is another process: it asks the server that placed the call to hang up.
            await cli(db, "calls", "end", KEY, call_id)
            ended = await wait_for_call(client, call_id, lambda c: c["result"] is not None)
            assert ended["result"] == {"code": "Success", "party": "Originator", "reason": "Normal"}
            events = await call_events(client, call_id)
            assert [e["type"] for e in events].count("com.switchboard.call.ended") == 1
            assert events[-1]["data"]["hungUpBy"] == "client"
        await peers.passed()
        # A call still up when the server stops is hung up with BYE and recorded as ended.
        second_agent = await peers.peer("agent_flow4.xml", HANGUP=RECEIVE_BYE)
        second_trunk = await peers.peer(
            "trunk_flow4.xml", ORIGIN="trunk", FROM_RE=CLID_IN_FROM, HANGUP=RECEIVE_BYE
        )
        await server.stop()
        stopped = True
        server = SipServer(db, peers.transport, second_trunk.port)
        await server.start()
        stopped = False
        await set_phone(db, "4567", second_agent.uri(), destination_timeout=20)
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            call_id = (
                await client.post(
                    f"/v0/{KEY}/calls/",
                    json={"from": {"agentId": "4567"}, "to": {"telephoneNumber": "02072068888"}},
                )
            ).json()["id"]
            await wait_for_call(client, call_id, lambda c: c["recordingStatus"] == "Started")
        assert await server.stop() == 0
        stopped = True
        await peers.passed()
        calls = {
            json.loads(line)["id"]: json.loads(line)
            for line in (await cli(db, "calls", "list", KEY, "--json")).splitlines()
        }
        assert calls[call_id]["status"] is None and calls[call_id]["result"] is not None
        server = SipServer(db, peers.transport, free_port())
        await server.start()
        stopped = False
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            events = await call_events(client, call_id)
        assert [e["type"] for e in events].count("com.switchboard.call.ended") == 1
        assert events[-1]["data"]["hungUpBy"] == "switchboard"  # the server stopped
    finally:
        if not stopped:
            await server.stop()


# The agent's phone answers the INVITE with 100 Trying (no more retransmissions; not yet
# ringing) and rings only after a pause, well inside the 2 s start window.
TRYING_THEN_PAUSE = """
  <send>
    <![CDATA[
      SIP/2.0 100 Trying
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="800"/>
"""


async def test_a_client_that_goes_away_mid_placement_leaves_no_call_undriven(
    peers: Peers, tmp_path: Path
) -> None:
    """The client gives up on its POST after the commit, while the agent's phone has not yet
    rung. The call must still be driven to its end (or be undone), and the agent freed.

    uvicorn does not cancel a request's task when its client disconnects (it only marks the
    cycle disconnected), so this passes on the code before the detached placement too; the
    cancellation itself is covered on fakes in ``tests/unit/test_placement_cancelled.py``."""
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    agent = await peers.peer(
        "agent_flow4.xml", HANGUP=RECEIVE_BYE, BEFORE_RINGING=TRYING_THEN_PAUSE
    )
    trunk = await peers.peer("trunk_flow4.xml", ORIGIN="trunk", HANGUP=send_bye(500))
    server = SipServer(db, peers.transport, trunk.port)
    await server.start()
    try:
        await set_phone(db, "1234", agent.uri())
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            with pytest.raises(httpx.TimeoutException):
                await client.post(f"/v0/{KEY}/calls/", json=CALL, timeout=0.3)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 20
        while True:
            listed = [
                json.loads(line)
                for line in (await cli(db, "calls", "list", KEY, "--json")).splitlines()
            ]
            if (listed and listed[0]["result"] is not None) or loop.time() > give_up:
                break
            await asyncio.sleep(0.2)
        (call,) = listed
        assert call["result"] == {"code": "Success", "party": "Destination", "reason": "Normal"}
        agents = {
            json.loads(line)["id"]: json.loads(line)
            for line in (await cli(db, "agents", "list", KEY, "--json")).splitlines()
        }
        assert agents["1234"]["state"] == "Wrapup"
        await peers.passed()
    finally:
        assert await server.stop() == 0


# Each SIP outcome of the SIPp suite, through the real server: what the V0 GET says and what
# the event log says agree, and the log ends the call exactly once, last, with the SIP status
# (for a failure the trunk answered) and who hung up. The agent's phone answers the held first
# offer (flow IV) and then gets our BYE or sends its own.
SIP_OUTCOMES = {
    "destination busy": (
        {
            "scenario": "reject.xml",
            "PROVISIONAL": RINGING,
            "CODE": "486",
            "REASON": "Busy Here",
            # RFC 3326, as carriers' gateways send it: the cause goes into the event.
            "EXTRA_HEADERS": '\n      Reason: Q.850;cause=17;text="User busy"',
        },
        RECEIVE_BYE,
        60.0,
        ({"code": "Failure", "party": "Destination", "reason": "NumberBusy"}, 486, "destination"),
    ),
    "destination not found": (
        {"scenario": "reject.xml", "PROVISIONAL": "", "CODE": "404", "REASON": "Not Found"},
        RECEIVE_BYE,
        60.0,
        (
            {"code": "Failure", "party": "Destination", "reason": "NumberUnobtainable"},
            404,
            "destination",
        ),
    ),
    "trunk unavailable": (
        {"scenario": "reject.xml", "PROVISIONAL": "", "CODE": "503", "REASON": "Unavailable"},
        RECEIVE_BYE,
        60.0,
        ({"code": "Failure", "party": "Destination", "reason": "CallFailed"}, 503, "destination"),
    ),
    "destination not answering": (
        {"scenario": "noanswer.xml"},
        RECEIVE_BYE,
        1.0,
        ({"code": "Failure", "party": "Destination", "reason": "NoAnswer"}, None, "switchboard"),
    ),
    "agent hanging up while the number rings": (
        {"scenario": "noanswer.xml"},
        send_bye(400),
        60.0,
        ({"code": "Failure", "party": "Originator", "reason": "Normal"}, None, "agent"),
    ),
}


@pytest.mark.parametrize("outcome", list(SIP_OUTCOMES))
async def test_every_sip_outcome_ends_the_call_once_in_the_event_log(
    peers: Peers, tmp_path: Path, outcome: str
) -> None:
    trunk_values, agent_hangup, ring_s, expected = SIP_OUTCOMES[outcome]
    result, sip_status, hung_up_by = expected
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    agent = await peers.peer("agent_held.xml", HANGUP=agent_hangup)
    values = dict(trunk_values)
    trunk = await peers.peer(values.pop("scenario"), **values)
    server = SipServer(db, peers.transport, trunk.port)
    await server.start()
    try:
        await set_phone(db, "1234", agent.uri(), destination_timeout=ring_s)
        await asyncio.sleep(1.1)  # the server's account cache may keep the old ring time 1 s
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            created = await client.post(f"/v0/{KEY}/calls/", json=CALL)
            assert created.status_code == 201, created.text
            call_id = created.json()["id"]
            ended = await wait_for_call(client, call_id, lambda c: c["result"] is not None)
            assert ended["result"] == result, ended
            events = await call_events(client, call_id)
            kinds = [e["type"].removeprefix("com.switchboard.call.") for e in events]
            assert kinds[0] == "placed" and kinds.count("ended") == 1 and kinds[-1] == "ended"
            assert "agent.answered" in kinds and "connected" not in kinds, kinds
            # The destination's leg was tried and never answered: it fails, whoever ended it.
            assert kinds.count("destination.failed") == 1, kinds
            end = events[-1]["data"]
            assert end["result"] == result
            assert (end["sipStatus"], end["hungUpBy"]) == (sip_status, hung_up_by), end
            # The cause a peer gave (the busy trunk's Reason header), and none where none was.
            assert end["q850Cause"] == (17 if "EXTRA_HEADERS" in trunk_values else None), end
            failed = next(e for e in events if e["type"].endswith("destination.failed"))
            assert failed["data"]["q850Cause"] == end["q850Cause"]
            assert [e["data"]["sequence"] for e in events] == list(range(1, len(events) + 1))
        await peers.passed()
    finally:
        assert await server.stop() == 0
