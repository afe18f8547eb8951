"""Recording through the V0 API of a real server (SIP engine, rtpengine between SIPp phones
whose media ports are Python RTP peers): the state set on the API is what the file holds, a
TwoParty call leaves no file, and without rtpengine the call connects and says Stopped."""

from __future__ import annotations

import asyncio
import json
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_sip_through_api import KEY, SipServer, cli, set_phone, wait_for_call
from tests.media.test_sip_media import MediaCall
from tests.sip.sip_harness import SipHarness
from tests.support.rtpengine import Rtpengine
from tests.support.sipp import free_port, sipp_available

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")
CALL: dict[str, Any] = {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}


class Setup:
    def __init__(self, tmp_path: Path, ng: str, pcaps: Path) -> None:
        self.db = f"sqlite:///{tmp_path / 'sip.db'}"
        self.recordings = tmp_path / "recordings"
        self.call = MediaCall(SipHarness(tmp_path, "udp"), None)  # type: ignore[arg-type]
        self.ng, self.pcaps = ng, pcaps
        self.server: SipServer | None = None

    async def start(self) -> httpx.AsyncClient:
        await self.call.start_peers()
        assert self.call.trunk is not None and self.call.agent is not None
        server = SipServer(self.db, "udp", self.call.trunk.port)
        server.env.update(
            SWITCHBOARD_RTPENGINE_NG=self.ng,
            SWITCHBOARD_RTPENGINE_RECORDING_DIR=str(self.pcaps),
            SWITCHBOARD_RECORDING_DIR=str(self.recordings),
            SWITCHBOARD_RTPENGINE_TIMEOUT_MS="100",
            SWITCHBOARD_RTPENGINE_RETRIES="1",
        )
        await server.start()
        self.server = server
        await set_phone(self.db, "1234", self.call.agent.uri())
        return httpx.AsyncClient(base_url=server.base, headers=server.headers)

    async def place(self, client: httpx.AsyncClient, body: dict[str, Any]) -> str:
        created = await client.post(f"/v0/{KEY}/calls/", json=body)
        assert created.status_code == 201, created.text
        call_id = str(created.json()["id"])
        await wait_for_call(client, call_id, lambda c: c["status"] == "Active" and self._joined())
        return call_id

    def _joined(self) -> bool:
        assert self.call.trunk is not None
        path = self.call.trunk.message_file
        return path.exists() and "ACK" in path.read_text(errors="replace")

    async def stop(self) -> None:
        if self.server is not None:
            assert await self.server.stop() == 0
        await self.call.close()
        await self.call.sip.aclose()


@pytest.fixture
async def recorded(tmp_path: Path, rtpengine: Rtpengine) -> AsyncIterator[Setup]:
    setup = Setup(tmp_path, rtpengine.ng_address, rtpengine.recording_dir)
    try:
        yield setup
    finally:
        await setup.stop()


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


async def end(setup: Setup, client: httpx.AsyncClient, call_id: str) -> None:
    await cli(setup.db, "calls", "end", KEY, call_id)
    await wait_for_call(client, call_id, lambda c: c["result"] is not None)


async def kept(path: Path, within: float = 10.0) -> bool:
    for _ in range(int(within / 0.1)):
        if await asyncio.to_thread(path.exists):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_paused_time_is_not_in_the_file(recorded: Setup) -> None:
    async with await recorded.start() as client:
        call_id = await recorded.place(client, CALL)
        got = await wait_for_call(client, call_id, lambda c: c["recordingStatus"] == "Started")
        assert got["recordingStatus"] == "Started"
        agent_to = await recorded.call.given(recorded.call.agent, "INVITE")  # type: ignore[arg-type]
        trunk_to = await recorded.call.given(recorded.call.trunk, "ACK")  # type: ignore[arg-type]
        recorded.call.send_both_ways(agent_to, trunk_to)
        await asyncio.sleep(3)
        paused = await client.post(f"/v0/{KEY}/calls/{call_id}", json={"recordingStatus": "Paused"})
        assert paused.status_code == 202 and paused.json() == {"recordingStatus": "Paused"}
        await asyncio.sleep(2)
        resumed = await client.post(
            f"/v0/{KEY}/calls/{call_id}", json={"recordingStatus": "Started"}
        )
        assert resumed.status_code == 202
        await asyncio.sleep(2)
        assert (await client.get(f"/v0/{KEY}/calls/{call_id}")).json()["recordingStatus"] == (
            "Started"
        )
        # Paused again before the hang-up, whose own timing (a CLI process) is not the test's.
        await client.post(f"/v0/{KEY}/calls/{call_id}", json={"recordingStatus": "Paused"})
        await end(recorded, client, call_id)
    audio = recorded.recordings / KEY / f"{call_id}.wav"
    meta = recorded.recordings / KEY / f"{call_id}.json"
    assert await kept(meta)
    seconds = wav_seconds(audio)
    assert abs(seconds - 5.0) <= 0.3, seconds  # 3 s + 2 s; never the 2 s paused
    pauses = json.loads(meta.read_text())["pauses"]
    assert [round(p["offsetSeconds"]) for p in pauses] == [3, 5]
    with wave.open(str(audio)) as wav:
        frames = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    assert samples[len(samples) // 4 * 2] == -32124 and samples[len(samples) // 4 * 2 + 1] == 32124


async def test_a_two_party_call_leaves_no_file(recorded: Setup) -> None:
    body = {**CALL, "to": {**CALL["to"], "consent": "TwoParty"}}
    async with await recorded.start() as client:
        call_id = await recorded.place(client, body)
        started = await client.post(
            f"/v0/{KEY}/calls/{call_id}", json={"recordingStatus": "Started"}
        )
        assert started.status_code == 202
        got = await wait_for_call(client, call_id, lambda c: c["recordingStatus"] == "Stopped")
        assert got["recordingStatus"] == "Stopped"  # nothing records it
        await asyncio.sleep(1)
        await end(recorded, client, call_id)
    await asyncio.sleep(1)
    assert not (recorded.recordings / KEY / f"{call_id}.wav").exists()
    assert list((recorded.pcaps / "pcaps").glob("*")) == []


async def test_without_rtpengine_the_call_connects_unrecorded_and_says_so(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path, f"127.0.0.1:{free_port()}", tmp_path / "pcaps")
    try:
        async with await setup.start() as client:
            call_id = await setup.place(client, CALL)
            got = await wait_for_call(client, call_id, lambda c: c["recordingStatus"] == "Stopped")
            assert got["status"] == "Active" and got["recordingStatus"] == "Stopped"
            await end(setup, client, call_id)
        assert setup.server is not None
        assert "phone to phone, unrecorded" in setup.server.log.read_text()
    finally:
        await setup.stop()
    assert not (setup.recordings / KEY / f"{call_id}.wav").exists()
