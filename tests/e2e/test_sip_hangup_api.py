"""Hang-up over /api/v1 on the SIP engine, against SIPp peers: CANCEL to the agent's ringing
phone; BYE to the agent and CANCEL to the ringing trunk; BYE to both once connected. Each
answers with the ended call; a second hang-up answers the same."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_sip_through_api import (
    CALL,
    CLID_IN_FROM,
    KEY,
    Peers,
    SipServer,
    call_events,
    peers,  # noqa: F401  (the fixture)
    set_phone,
    wait_for_call,
)
from tests.sip.sip_harness import RECEIVE_BYE
from tests.support.sipp import free_port, sipp_available

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(not sipp_available(), reason="sipp is not installed (Debian sip-tester)"),
]

CALLS = f"/api/v1/accounts/{KEY}/calls"


async def v1_status(client: httpx.AsyncClient, call_id: str) -> str:
    return str((await client.get(f"{CALLS}/{call_id}")).json()["status"])


async def until_status(client: httpx.AsyncClient, call_id: str, status: str) -> None:
    for _ in range(300):
        if await v1_status(client, call_id) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} never reached {status}")


async def hang_up(client: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await client.post(f"{CALLS}/{call_id}/hangup")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("state", ["agent_ringing", "destination_ringing", "connected"])
async def test_hang_up_over_the_api_sends_cancel_or_bye_as_the_state_needs(
    peers: Peers,  # noqa: F811
    tmp_path: Path,
    state: str,
) -> None:
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    if state == "agent_ringing":
        agent = await peers.peer("noanswer.xml")
        trunk_port = free_port()
    else:
        ringing = state == "destination_ringing"
        # Held, never joined, while the trunk rings; joined by a re-INVITE once connected.
        phone = "agent_held.xml" if ringing else "agent_flow4.xml"
        agent = await peers.peer(phone, HANGUP=RECEIVE_BYE)
        scenario = "noanswer.xml" if ringing else "trunk_flow4.xml"
        values = {} if ringing else {"HANGUP": RECEIVE_BYE}
        trunk = await peers.peer(scenario, ORIGIN="trunk", FROM_RE=CLID_IN_FROM, **values)
        trunk_port = trunk.port
    server = SipServer(db, peers.transport, trunk_port)
    await server.start()
    try:
        await set_phone(db, "1234", agent.uri(), destination_timeout=20)
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as client:
            created = await client.post(f"/v0/{KEY}/calls/", json=CALL)
            assert created.status_code == 201, created.text
            call_id = created.json()["id"]
            await until_status(client, call_id, state)
            ended = await hang_up(client, call_id)
            assert ended["status"] == "ended" and ended["active"] is False
            assert ended["result"]["party"] == "Originator"
            assert await hang_up(client, call_id) == ended
            v0 = await wait_for_call(client, call_id, lambda c: c["result"] is not None)
            assert v0["status"] is None
            events = await call_events(client, call_id)
            assert [e["type"] for e in events].count("com.switchboard.call.ended") == 1
            assert events[-1]["data"]["hungUpBy"] == "client"
        await peers.passed()  # each peer got its CANCEL or BYE
    finally:
        assert await server.stop() == 0
