"""A garbage flood does not stop a real call: 10,000 junk datagrams (random bytes, damaged and
well-formed-looking messages) and junk over many TCP connections reach the engine's port while
a flow IV call connects between two SIPp peers. Bounded: the flood takes well under a second to
send, the whole test under 30 s."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time

import pytest

from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye

pytestmark = pytest.mark.sip

DATAGRAMS = 10_000
TCP_CONNECTIONS = 40
NUMBER = "+441632960999"  # flow IV

OPTIONS = (
    "OPTIONS sip:flood@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n}\r\n"
    "From: <sip:flood@127.0.0.1>;tag={n}\r\nTo: <sip:x@127.0.0.1>\r\n"
    "Call-ID: flood-{n}\r\nCSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def junk(rng: random.Random, n: int) -> bytes:
    kind = n % 4
    if kind == 0:
        return rng.randbytes(rng.randint(1, 1400))
    if kind == 1:  # a plausible request, cut short
        text = OPTIONS.format(n=n).encode()
        return text[: rng.randint(1, len(text))]
    if kind == 2:  # Unicode digits, huge numbers, empty headers
        return (
            f"BYE sip:x@y SIP/2.0\r\nVia: \r\nCSeq: ²{'9' * 400} BYE\r\nCall-ID: {n}\r\n\r\n"
        ).encode()
    return OPTIONS.format(n=n).encode()  # well formed: answered, its transaction expires


def flood_udp(port: int) -> float:
    rng = random.Random(8)
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))  # answers to the OPTIONS land here, unread
        for n in range(DATAGRAMS):
            sender.sendto(junk(rng, n), ("127.0.0.1", port))
            if n % 500 == 0:
                time.sleep(0.001)  # let the engine read: the point is junk, not lost calls
    return time.monotonic() - started


async def flood_tcp(port: int) -> None:
    rng = random.Random(9)
    writers = []
    for n in range(TCP_CONNECTIONS):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        writer.write(
            rng.randbytes(4096)
            if n % 2
            else b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"
        )
        writers.append(writer)
    await asyncio.sleep(0.5)
    for writer in writers:
        writer.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_call_connects_through_a_garbage_flood(
    sip: SipHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard.adapters.telephony.sip")
    agent = await sip.peer("agent_flow4.xml", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("trunk_flow4.xml", ring_ms=500, ORIGIN="trunk", HANGUP=send_bye(300))
    engine = await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), number=NUMBER)

    async with asyncio.timeout(30):
        sending = asyncio.gather(
            asyncio.get_running_loop().run_in_executor(None, flood_udp, engine.port),
            flood_tcp(engine.port),
        )
        assert await sip.start(setup) is StartOutcome.RINGING
        seconds, _ = await sending
        assert seconds < 10
        assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
        assert sip.signals.kinds(setup.call_id) == [
            "agent_answered",
            "destination_answered",
            "ended",
        ]
        await sip.assert_peers_passed()
        assert engine.calls_in_progress == 0
        # The flood's transactions expire after 64*T1 (3.2 s here): nothing stays behind.
        while any(engine.sizes().values()):  # noqa: ASYNC110 - timers, not events, empty them
            await asyncio.sleep(0.1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
