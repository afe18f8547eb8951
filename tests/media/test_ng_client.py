"""Our NG client against a real rtpengine (userspace, pcap recording) on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.adapters.media.ng import MediaRefused, MediaUnreachable, NgClient
from tests.media.rtp import RtpPeer, media_address, sdp_for
from tests.support.rtpengine import Rtpengine
from tests.support.sipp import free_port


async def test_ping_answers_pong(rtpengine: Rtpengine) -> None:
    client = rtpengine.client()
    try:
        await client.ping()
    finally:
        await client.close()


async def test_offer_and_answer_put_rtpengine_between_the_parties(rtpengine: Rtpengine) -> None:
    client = rtpengine.client()
    alice, bob = RtpPeer(0x1111), RtpPeer(0x2222)
    try:
        to_bob = await client.offer("call-a", "alice", sdp_for(alice.port))
        to_alice = await client.answer("call-a", "alice", "bob", sdp_for(bob.port, session=2))
        bob_sends_to = media_address(to_bob)
        alice_sends_to = media_address(to_alice)
        assert bob_sends_to[1] not in (alice.port, bob.port)
        assert alice_sends_to[1] not in (alice.port, bob.port, bob_sends_to[1])
        for _ in range(20):
            alice.send(alice_sends_to, b"\x11" * 160)
            bob.send(bob_sends_to, b"\x22" * 160)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        at_bob, at_alice = bob.drain(), alice.drain()
        assert len(at_bob) >= 18 and all(p[12:] == b"\x11" * 160 for p in at_bob)
        assert len(at_alice) >= 18 and all(p[12:] == b"\x22" * 160 for p in at_alice)
        query = await client.query("call-a")
        assert set(query["tags"]) == {"alice", "bob"}
        await client.delete("call-a")
        with pytest.raises(MediaRefused):
            await client.query("call-a")
    finally:
        alice.close()
        bob.close()
        await client.close()


async def test_bad_sdp_is_refused_with_rtpengine_s_reason(rtpengine: Rtpengine) -> None:
    client = rtpengine.client()
    try:
        with pytest.raises(MediaRefused) as caught:
            await client.offer("call-b", "alice", b"not sdp")
        assert caught.value.command == "offer"
        assert caught.value.reason
    finally:
        await client.close()


async def test_start_and_stop_recording_write_one_pcap_per_segment(rtpengine: Rtpengine) -> None:
    client = rtpengine.client()
    alice, bob = RtpPeer(1), RtpPeer(2)
    try:
        await client.offer("call-r", "alice", sdp_for(alice.port))
        to_alice = await client.answer("call-r", "alice", "bob", sdp_for(bob.port, session=2))
        for _segment in range(2):
            await client.start_recording("call-r")
            for _ in range(5):
                alice.send(media_address(to_alice))
                await asyncio.sleep(0.01)
            await client.stop_recording("call-r")
        await client.delete("call-r")
        pcaps = sorted((rtpengine.recording_dir / "pcaps").glob("call-r-*.pcap"))
        assert len(pcaps) == 2
        assert all(p.stat().st_size > 24 for p in pcaps)  # more than the pcap header
    finally:
        alice.close()
        bob.close()
        await client.close()


async def test_nothing_listening_is_unreachable_after_the_retries() -> None:
    client = NgClient("127.0.0.1", free_port(), timeout_s=0.1, retries=2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        with pytest.raises(MediaUnreachable):
            await client.ping()
    finally:
        await client.close()
    assert 0.25 <= loop.time() - began < 2.0
