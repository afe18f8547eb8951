"""Leg behaviour that SIPp cannot show: a phone scripted byte by byte over a raw UDP socket.

The phone here answers or stays silent exactly when the test says, so we can see that a CANCEL
waits for a provisional response, and that every retransmitted 2xx (inside the INVITE
transaction and after it ended) gets the dialog's ACK again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from switchboard.adapters.telephony.sip import SipConfig, SipEngine
from switchboard.adapters.telephony.sip.message import Request, Response, parse_message
from switchboard.domain.calls import Party
from switchboard.service.ports import CallSetup, StartOutcome
from tests.sip.sip_harness import FakeSignals, now


class ScriptedPhone(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.requests: asyncio.Queue[tuple[Request, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, Request):
            self.requests.put_nowait((message, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    async def next(self, method: str, within: float = 2.0) -> tuple[Request, tuple[str, int]]:
        """The next request of that method; INVITE retransmissions (T1 = 10 ms) are skipped."""
        async with asyncio.timeout(within):
            while True:
                request, addr = await self.requests.get()
                if request.method == method:
                    return request, addr

    def methods_so_far(self) -> set[str]:
        seen = set()
        while not self.requests.empty():
            seen.add(self.requests.get_nowait()[0].method)
        return seen

    def respond(
        self, request: Request, status: int, addr: tuple[str, int], *, body: bytes = b""
    ) -> Response:
        response = Response(status=status, reason="Whatever")
        for via in request.lines("Via"):
            response.add("Via", via)
        response.add("From", request.get("From") or "")
        to = request.get("To") or ""
        response.add("To", to if ";tag=" in to or status == 100 else f"{to};tag=phone1")
        response.add("Call-ID", request.call_id)
        response.add("CSeq", request.get("CSeq") or "")
        response.add("Contact", f"<sip:phone@127.0.0.1:{self.port}>")
        if body:
            response.add("Content-Type", "application/sdp")
            response.body = body
        assert self.transport is not None
        self.transport.sendto(response.to_bytes(), addr)
        return response


@pytest.fixture
async def phone() -> AsyncIterator[ScriptedPhone]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        ScriptedPhone, local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol
    finally:
        transport.close()


@pytest.fixture
async def engine() -> AsyncIterator[SipEngine]:
    engine = SipEngine(
        SipConfig(
            bind_host="127.0.0.1",
            bind_port=0,
            t1_ms=10,
            start_window_ms=200,
            timer_b_ms=2_000,
            trunk_host="127.0.0.1",
            trunk_port=9,
        ),
        now,
    )
    engine.bind(FakeSignals())
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


def setup_for(phone: ScriptedPhone, ring_s: float = 60.0) -> CallSetup:
    return CallSetup(
        call_id="leg-test",
        agent_phone=f"sip:phone@127.0.0.1:{phone.port}",
        destination_e164="+441632960123",
        destination_phone=None,
        presented_clid_e164=None,
        agent_timeout_s=30.0,
        destination_timeout_s=ring_s,
    )


async def test_cancel_waits_for_a_provisional_response(
    engine: SipEngine, phone: ScriptedPhone
) -> None:
    outcome = asyncio.ensure_future(engine.start(setup_for(phone)))
    invite, addr = await phone.next("INVITE")
    assert await outcome is StartOutcome.AGENT_UNREACHABLE  # silence for the start window
    await asyncio.sleep(0.1)
    assert phone.methods_so_far() == {"INVITE"}  # retransmissions, and no CANCEL yet
    phone.respond(invite, 100, addr)  # any provisional lets the CANCEL go (RFC 3261 9.1)

    cancel, _ = await phone.next("CANCEL")
    assert cancel.values("Via") == invite.values("Via")[:1]
    phone.respond(cancel, 200, addr)
    phone.respond(invite, 487, addr)
    ack, _ = await phone.next("ACK")
    assert ack.values("Via") == invite.values("Via")[:1]


async def test_every_retransmitted_2xx_gets_the_dialogs_ack_again(
    engine: SipEngine, phone: ScriptedPhone
) -> None:
    assert engine.calls_in_progress == 0
    outcome = asyncio.ensure_future(engine.start(setup_for(phone)))  # flow IV: ACKed at once
    invite, addr = await phone.next("INVITE")
    assert b"a=inactive" in invite.body
    phone.respond(invite, 180, addr)
    assert await outcome is StartOutcome.RINGING
    ok = phone.respond(invite, 200, addr, body=b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n")

    first, _ = await phone.next("ACK")
    assert first.uri == f"sip:phone@127.0.0.1:{phone.port}"  # the remote target (Contact)
    assert first.values("Via") != invite.values("Via")  # a new branch: not the transaction's
    assert first.cseq == (1, "ACK")

    assert phone.transport is not None
    phone.transport.sendto(ok.to_bytes(), addr)  # inside the INVITE transaction (Accepted)
    again, _ = await phone.next("ACK")
    await asyncio.sleep(64 * 0.01 + 0.1)  # the transaction is gone: a stray 2xx now
    phone.transport.sendto(ok.to_bytes(), addr)
    stray, _ = await phone.next("ACK")
    assert again.to_bytes() == first.to_bytes() == stray.to_bytes()


async def test_a_phone_silent_after_ringing_leaves_no_transaction_behind(
    engine: SipEngine, phone: ScriptedPhone
) -> None:
    """Hung up while ringing: the CANCEL and the INVITE are never answered. The leg gives up
    after 64*T1 (RFC 3261 9.1), and its INVITE transaction, which has no timer of its own once
    a provisional came (Proceeding), must go with it."""
    setup = setup_for(phone)
    outcome = asyncio.ensure_future(engine.start(setup))
    invite, addr = await phone.next("INVITE")
    phone.respond(invite, 180, addr)
    assert await outcome is StartOutcome.RINGING
    await engine.hangup(setup, Party.ORIGINATOR)
    await phone.next("CANCEL")
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 5.0  # 64*T1 is 0.64 s here: the guard, then the dialog's linger
    while any(engine.sizes().values()) and loop.time() < give_up:  # noqa: ASYNC110 - timers
        await asyncio.sleep(0.05)
    assert engine.sizes() == dict.fromkeys(engine.sizes(), 0)
