"""Bounded state in the transport: resolved names expire and are capped, TCP connections peers
open are closed when idle or slow to deliver a message, and capped in number. Real sockets, a
clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from switchboard.adapters.telephony.sip.clock import ManualClock
from switchboard.adapters.telephony.sip.message import Request, Response
from switchboard.adapters.telephony.sip.transport import MAX_NAMES, Target, Transports


def ignore(message: Request | Response, source: Target) -> None:
    pass


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def open_transports(clock: ManualClock, **bounds: float) -> Transports:
    transports = Transports("127.0.0.1", 0, ignore, clock=clock, **bounds)  # type: ignore[arg-type]
    await transports.open()
    return transports


@pytest.fixture
async def transports(clock: ManualClock) -> AsyncIterator[Transports]:
    opened = await open_transports(
        clock, tcp_idle_s=10.0, max_inbound_tcp=2, dns_ttl_s=5.0, tcp_message_s=0.0
    )
    try:
        yield opened
    finally:
        await opened.close()


async def closed_by_peer(reader: asyncio.StreamReader, within: float = 2.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except TimeoutError:
        return False


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_an_idle_inbound_tcp_connection_is_closed(
    clock: ManualClock, transports: Transports
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", transports.port)
    await settle()
    clock.advance(6)
    writer.write(b"\r\n\r\n")  # a keep-alive is traffic: the idle time starts again
    await writer.drain()
    await settle()
    clock.advance(6)
    await settle()
    assert not await closed_by_peer(reader, within=0.1)

    clock.advance(5)
    assert await closed_by_peer(reader)
    await settle()
    assert transports.inbound_tcp == 0
    writer.close()


MESSAGE = b"OPTIONS sip:switchboard@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n"


async def test_at_the_cap_the_oldest_silent_connection_makes_room(
    transports: Transports,
) -> None:
    opened = [await asyncio.open_connection("127.0.0.1", transports.port) for _ in range(3)]
    await settle()
    closed = [await closed_by_peer(reader, within=0.3) for reader, _ in opened]
    assert closed == [True, False, False]
    assert transports.inbound_tcp == 2
    for _, writer in opened:
        writer.close()


async def test_at_the_cap_connections_that_delivered_a_message_are_kept(
    transports: Transports,
) -> None:
    talking = [await asyncio.open_connection("127.0.0.1", transports.port) for _ in range(2)]
    for _, writer in talking:
        writer.write(MESSAGE)
        await writer.drain()
    await settle()
    reader, writer = await asyncio.open_connection("127.0.0.1", transports.port)
    assert await closed_by_peer(reader)
    assert [await closed_by_peer(r, within=0.1) for r, _ in talking] == [False, False]
    assert transports.inbound_tcp == 2
    for _, w in [*talking, (reader, writer)]:
        w.close()


async def test_a_message_must_arrive_in_full_in_time(clock: ManualClock) -> None:
    transports = await open_transports(clock, tcp_idle_s=0.0, tcp_message_s=10.0)
    try:
        silent, silent_writer = await asyncio.open_connection("127.0.0.1", transports.port)
        trickle, trickle_writer = await asyncio.open_connection("127.0.0.1", transports.port)
        prompt, prompt_writer = await asyncio.open_connection("127.0.0.1", transports.port)
        await settle()
        for second in range(25):
            # One byte of a message every second to one, whole messages to another.
            trickle_writer.write(MESSAGE[second : second + 1])
            prompt_writer.write(MESSAGE)
            await settle()
            clock.advance(1)
            await settle()
            if second == 9:
                assert await closed_by_peer(silent)
                assert await closed_by_peer(trickle)
        assert not await closed_by_peer(prompt, within=0.1)
        prompt_writer.write(MESSAGE[:10])  # a message begun: its own 10 s from now
        await settle()
        clock.advance(9)
        assert not await closed_by_peer(prompt, within=0.1)
        clock.advance(1)
        assert await closed_by_peer(prompt)
        await settle()
        assert transports.inbound_tcp == 0
        for writer in (silent_writer, trickle_writer, prompt_writer):
            writer.close()
    finally:
        await transports.close()


async def test_resolved_names_expire_and_are_capped(
    clock: ManualClock, transports: Transports
) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    try:
        port = sink.get_extra_info("sockname")[1]
        transports.send(b"one", Target("udp", "localhost", port))
        assert await asyncio.wait_for(received.get(), 2) == b"one"
        first = transports._names["localhost"][1]
        assert first == clock.time() + 5.0

        clock.advance(6)  # expired: looked up again, with a new expiry
        transports.send(b"two", Target("udp", "localhost", port))
        assert await asyncio.wait_for(received.get(), 2) == b"two"
        assert transports._names["localhost"][1] == clock.time() + 5.0

        for index in range(MAX_NAMES):
            transports._names[f"filler{index}.invalid"] = ("127.0.0.1", clock.time() + 5.0)
        clock.advance(6)
        transports.send(b"three", Target("udp", "localhost", port))
        assert await asyncio.wait_for(received.get(), 2) == b"three"
        assert transports.cached_names <= MAX_NAMES
    finally:
        sink.close()
