"""The SIP engine with rtpengine between the parties (SIPp phones, Python RTP on their media
ports, a real userspace rtpengine): each phone is given rtpengine's address, RTP crosses it,
and the recording follows the state it is given."""

from __future__ import annotations

import asyncio
import logging
import re
import struct
import time
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.adapters.media.anchor import MediaAnchor
from switchboard.adapters.media.ng import NgClient
from switchboard.adapters.recordings import FileRecordingStore
from switchboard.domain.calls import CallResult, Party, RecordingStatus
from switchboard.service.ports import CallSetup, StartOutcome
from tests.media.rtp import RtpPeer
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, now
from tests.support.rtpengine import Rtpengine
from tests.support.sipp import SippPeer, free_port, sipp_available

SCENARIOS = Path(__file__).parent / "scenarios"
STARTED, PAUSED = RecordingStatus.STARTED, RecordingStatus.PAUSED

# When the test's calls were placed, as the placement would have stored it.
PLACED_AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


class MediaCall:
    """Two SIPp phones whose media ports are Python RTP peers, around an engine with rtpengine."""

    def __init__(self, sip: SipHarness, store: FileRecordingStore) -> None:
        self.sip = sip
        self.store = store
        self.agent_rtp = RtpPeer(0xA)
        self.trunk_rtp = RtpPeer(0xB)
        self.agent: SippPeer | None = None
        self.trunk: SippPeer | None = None
        self._senders: list[asyncio.Task[None]] = []

    async def start_peers(self, flow: str = "flow4") -> None:
        sip = self.sip
        self.agent = SippPeer(
            SCENARIOS / f"{flow}_agent.xml",
            sip.workdir,
            values={
                "HANGUP": RECEIVE_BYE,
                "MEDIA_PORT": str(self.agent_rtp.port),
                "ACK_RE": "o=trunk",
            },
            timeout_s=40,
        )
        self.trunk = SippPeer(
            SCENARIOS / f"{flow}_trunk.xml",
            sip.workdir,
            values={
                "HANGUP": RECEIVE_BYE,
                "ORIGIN": "trunk",
                "MEDIA_PORT": str(self.trunk_rtp.port),
                "OFFER_RE": "o=agent",
                "FROM_RE": ".*",
            },
            timeout_s=40,
        )
        for peer in (self.agent, self.trunk):
            await peer.start()
            sip.peers.append(peer)

    async def given(self, peer: SippPeer, method: str, within: float = 5.0) -> int:
        """The audio port in the last description the phone received in ``method`` (waiting
        for SIPp to log it: the signal can come before its log line)."""
        give_up = time.monotonic() + within
        while True:
            text = peer.message_file.read_text(errors="replace")
            received = re.findall(r"received \[\d+\] bytes.*?\n\n(.*?)(?=\n-{5,}|\Z)", text, re.S)
            ports = [
                int(m.group(1))
                for message in received
                if message.startswith(method)
                for m in [re.search(r"^m=audio (\d+)", message, re.M)]
                if m
            ]
            if ports:
                return ports[-1]
            assert time.monotonic() < give_up, f"no {method} with SDP received:\n{text[-3000:]}"
            await asyncio.sleep(0.05)

    def send_both_ways(self, agent_to: int, trunk_to: int) -> None:
        async def send(peer: RtpPeer, to: int, code: int) -> None:
            # Paced by the clock, as a phone's sound card is: late wake-ups send what is due,
            # so RTP time keeps up with real time on loaded cores.
            loop = asyncio.get_running_loop()
            began = loop.time()
            while True:
                due = int((loop.time() - began) / 0.02) + 1
                while peer.seq < due:
                    peer.send(("127.0.0.1", to), bytes([code]) * 160)
                await asyncio.sleep(0.02)

        self._senders = [
            asyncio.ensure_future(send(self.agent_rtp, agent_to, 0x00)),
            asyncio.ensure_future(send(self.trunk_rtp, trunk_to, 0x80)),
        ]

    async def close(self) -> None:
        for task in self._senders:
            task.cancel()
        self.agent_rtp.close()
        self.trunk_rtp.close()


@pytest.fixture
async def media_call(tmp_path: Path, rtpengine: Rtpengine) -> AsyncIterator[MediaCall]:
    if not sipp_available():
        pytest.skip("sipp not found: install the Debian package sip-tester")
    sip = SipHarness(tmp_path, "udp")
    store = FileRecordingStore(tmp_path / "recordings")
    call = MediaCall(sip, store)
    try:
        await call.start_peers()
        anchor = MediaAnchor(rtpengine.client(), now, rtpengine.recording_dir, store)
        await sip.open_engine(trunk=call.trunk, media=anchor)
        yield call
    finally:
        await call.close()
        await sip.aclose()


async def connect(call: MediaCall, destination_timeout_s: float = 30) -> CallSetup:
    """Flow IV at 30 s of ringing; flow I (the harness lists its number) at 10."""
    sip = call.sip
    assert call.agent is not None
    setup = sip.setup(call.agent.uri(), destination_timeout_s=destination_timeout_s)
    setup = CallSetup(
        **{
            **setup.__dict__,
            "account_key": "acc1",
            "caller_agent_id": "1001",
            "placed_at": PLACED_AT,
            "presented_clid": "01256636451",
        }
    )
    assert await sip.start(setup) is StartOutcome.RINGING
    await sip.signals.wait_for("destination_answered", setup.call_id, within=15)
    return setup


async def hang_up(call: MediaCall, setup: CallSetup) -> None:
    assert call.sip.engine is not None
    await call.sip.engine.hangup(setup, Party.ORIGINATOR)
    assert await call.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    await call.sip.assert_peers_passed()


async def kept(store: FileRecordingStore, call_id: str, within: float = 10.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while loop.time() < give_up:
        recording = await store.get("acc1", call_id)
        if recording is not None:
            return recording
        await asyncio.sleep(0.1)
    return None


async def test_each_phone_sends_to_rtpengine_and_the_recording_leaves_the_pause_out(
    media_call: MediaCall, rtpengine: Rtpengine
) -> None:
    call = media_call
    setup = await connect(call)
    engine = call.sip.engine
    assert engine is not None and call.agent is not None and call.trunk is not None
    # What each phone applies: rtpengine's ports, never the other phone's.
    agent_to = await call.given(call.agent, "INVITE")
    trunk_to = await call.given(call.trunk, "ACK")
    assert agent_to not in (call.trunk_rtp.port, call.agent_rtp.port)
    assert trunk_to not in (call.trunk_rtp.port, call.agent_rtp.port, agent_to)

    call.send_both_ways(agent_to, trunk_to)
    assert await engine.record(setup, STARTED) is STARTED
    await asyncio.sleep(3)
    assert await engine.record(setup, PAUSED) is PAUSED
    await asyncio.sleep(2)
    assert await engine.record(setup, STARTED) is STARTED
    await asyncio.sleep(2)
    at_agent, at_trunk = call.agent_rtp.drain(), call.trunk_rtp.drain()
    await hang_up(call, setup)

    # RTP sent by one party arrived at the other, through rtpengine.
    assert len(at_trunk) > 100 and all(p[12:] == b"\x00" * 160 for p in at_trunk)
    assert len(at_agent) > 100 and all(p[12:] == b"\x80" * 160 for p in at_agent)

    recording = await kept(call.store, setup.call_id)
    assert recording is not None, rtpengine.log_text[-2000:]
    assert abs(recording.duration_s - 5.0) <= 0.3
    assert len(recording.pauses) == 1 and abs(recording.pauses[0].offset_s - 3.0) <= 0.3
    # What the Interaction Content API shows as the interaction's start and connectFrom.
    assert (recording.placed_at, recording.presented_clid) == (PLACED_AT, "01256636451")
    audio = call.store.open_audio("acc1", setup.call_id)
    assert audio is not None
    with audio, wave.open(audio) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        assert abs(wav.getnframes() / 8000 - 5.0) <= 0.3
        frames = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    middle = len(samples) // 4 * 2  # a frame in the middle of the file
    assert samples[middle] == -32124  # the agent's µ-law 0x00, channel 0
    assert samples[middle + 1] == 32124  # the trunk's 0x80, channel 1
    # rtpengine's segments are gone once the WAV is made.
    assert list((rtpengine.recording_dir / "pcaps").glob(f"{setup.call_id}-*")) == []


async def test_a_call_never_asked_to_record_leaves_no_file(
    media_call: MediaCall, rtpengine: Rtpengine
) -> None:
    # What a TwoParty call is to the engine: the service never asks it to record.
    setup = await connect(media_call)
    await asyncio.sleep(0.5)
    await hang_up(media_call, setup)
    await asyncio.sleep(0.5)
    assert await kept(media_call.store, setup.call_id, within=0.5) is None
    assert list((rtpengine.recording_dir / "pcaps").glob("*")) == []


async def test_rtpengine_stopped_the_call_connects_unrecorded_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not sipp_available():
        pytest.skip("sipp not found: install the Debian package sip-tester")
    sip = SipHarness(tmp_path, "udp")
    store = FileRecordingStore(tmp_path / "recordings")
    call = MediaCall(sip, store)
    try:
        await call.start_peers()
        nobody = NgClient("127.0.0.1", free_port(), timeout_s=0.1, retries=1)
        anchor = MediaAnchor(nobody, now, tmp_path / "pcaps", store)
        await sip.open_engine(trunk=call.trunk, media=anchor)
        with caplog.at_level(logging.WARNING):
            setup = await connect(call)
            assert sip.engine is not None
            assert await sip.engine.record(setup, STARTED) is RecordingStatus.STOPPED
        assert call.agent is not None
        # Phone to phone: the agent was given the trunk's own media port.
        assert await call.given(call.agent, "INVITE") == call.trunk_rtp.port
        assert any("phone to phone, unrecorded" in r.getMessage() for r in caplog.records)
        await hang_up(call, setup)
        assert await kept(store, setup.call_id, within=0.5) is None
    finally:
        await call.close()
        await sip.aclose()


async def test_flow_i_puts_rtpengine_between_the_phones_too(
    tmp_path: Path, rtpengine: Rtpengine
) -> None:
    if not sipp_available():
        pytest.skip("sipp not found: install the Debian package sip-tester")
    sip = SipHarness(tmp_path, "udp")
    call = MediaCall(sip, FileRecordingStore(tmp_path / "recordings"))
    try:
        await call.start_peers("flow1")
        anchor = MediaAnchor(rtpengine.client(), now, rtpengine.recording_dir, call.store)
        await sip.open_engine(trunk=call.trunk, media=anchor)
        setup = await connect(call, destination_timeout_s=10)
        assert call.agent is not None and call.trunk is not None
        trunk_to = await call.given(call.trunk, "INVITE")  # the agent's offer, rewritten
        agent_to = await call.given(call.agent, "ACK")  # the trunk's answer, rewritten
        assert trunk_to not in (call.trunk_rtp.port, call.agent_rtp.port)
        assert agent_to not in (call.trunk_rtp.port, call.agent_rtp.port, trunk_to)
        call.send_both_ways(agent_to, trunk_to)
        await asyncio.sleep(1)
        at_agent, at_trunk = call.agent_rtp.drain(), call.trunk_rtp.drain()
        assert len(at_trunk) > 25 and all(p[12:] == b"\x00" * 160 for p in at_trunk)
        assert len(at_agent) > 25 and all(p[12:] == b"\x80" * 160 for p in at_agent)
        await hang_up(call, setup)
    finally:
        await call.close()
        await sip.aclose()


def trunk_reoffer(port: int) -> str:
    """The trunk's @HANGUP@: a re-INVITE moving its media to ``port``, then wait for BYE."""
    return f"""
  <pause milliseconds="300"/>
  <send retrans="500">
    <![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local_party];tag=[pid]SIPpTagSB[call_number]
      To: [$remote_party]
      Call-ID: [call_id]
      CSeq: 20 INVITE
      Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=trunk 1 2 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {port} RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local_party];tag=[pid]SIPpTagSB[call_number]
      To: [$remote_party]
      Call-ID: [call_id]
      CSeq: 20 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{RECEIVE_BYE}"""


AGENT_REANSWER = f"""
  <recv request="INVITE"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 1 3 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @MEDIA_PORT@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv request="ACK"/>
{RECEIVE_BYE}"""


async def test_a_mid_call_reoffer_is_relayed_through_rtpengine(
    tmp_path: Path, rtpengine: Rtpengine
) -> None:
    if not sipp_available():
        pytest.skip("sipp not found: install the Debian package sip-tester")
    sip = SipHarness(tmp_path, "udp")
    call = MediaCall(sip, FileRecordingStore(tmp_path / "recordings"))
    moved = RtpPeer(0xC)  # where the trunk moves its media
    try:
        call.agent = SippPeer(
            SCENARIOS / "flow4_agent.xml",
            sip.workdir,
            values={
                "HANGUP": AGENT_REANSWER.replace("@MEDIA_PORT@", str(call.agent_rtp.port)),
                "MEDIA_PORT": str(call.agent_rtp.port),
            },
            timeout_s=40,
        )
        call.trunk = SippPeer(
            SCENARIOS / "flow4_trunk.xml",
            sip.workdir,
            values={
                "HANGUP": trunk_reoffer(moved.port),
                "ORIGIN": "trunk",
                "MEDIA_PORT": str(call.trunk_rtp.port),
            },
            timeout_s=40,
        )
        for peer in (call.agent, call.trunk):
            await peer.start()
            sip.peers.append(peer)
        anchor = MediaAnchor(rtpengine.client(), now, rtpengine.recording_dir, call.store)
        await sip.open_engine(trunk=call.trunk, media=anchor)
        setup = await connect(call)
        # The relayed re-INVITE (the agent's third) reaches it with rtpengine's address.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 10
        while call.agent.message_file.read_text(errors="replace").count("INVITE sip:") < 3:
            assert loop.time() < give_up, call.agent.report()
            await asyncio.sleep(0.1)
        agent_to = await call.given(call.agent, "INVITE")
        trunk_to = await call.given(call.trunk, "SIP/2.0 200")  # the agent's answer, rewritten
        assert agent_to not in (moved.port, call.agent_rtp.port)
        assert trunk_to not in (moved.port, call.agent_rtp.port)
        for _ in range(25):
            call.agent_rtp.send(("127.0.0.1", agent_to), b"\x00" * 160)
            moved.send(("127.0.0.1", trunk_to), b"\x80" * 160)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        at_moved, at_agent = moved.drain(), call.agent_rtp.drain()
        assert len(at_moved) >= 20 and all(p[12:] == b"\x00" * 160 for p in at_moved)
        assert len(at_agent) >= 20 and all(p[12:] == b"\x80" * 160 for p in at_agent)
        await hang_up(call, setup)
    finally:
        moved.close()
        await call.close()
        await sip.aclose()
