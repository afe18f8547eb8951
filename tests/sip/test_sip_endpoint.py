"""The user agent core over real sockets: what it answers out of a dialog, how it echoes a
request in its response, and how it absorbs retransmissions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.endpoint import Endpoint
from switchboard.adapters.telephony.sip.message import Response, parse_message
from switchboard.adapters.telephony.sip.uri import NameAddr, Via


class UdpPeer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)

    async def response(self, within: float = 2.0) -> Response:
        message = parse_message(await asyncio.wait_for(self.received.get(), within))
        assert isinstance(message, Response)
        return message

    async def silence(self, within: float = 0.3) -> bool:
        try:
            await asyncio.wait_for(self.received.get(), within)
        except TimeoutError:
            return True
        return False


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(SipConfig(bind_host="127.0.0.1", bind_port=0, t1_ms=50))
    await endpoint.open()
    try:
        yield endpoint
    finally:
        await endpoint.close()


@pytest.fixture
async def peer(endpoint: Endpoint) -> AsyncIterator[UdpPeer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        UdpPeer, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", endpoint.port)
    )
    try:
        yield protocol
    finally:
        transport.close()


def request(
    method: str,
    *,
    branch: str = "z9hG4bKpeer1",
    to_tag: str | None = None,
    via_host: str = "127.0.0.1",
    cseq: int = 1,
) -> bytes:
    to = "<sip:switchboard@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:switchboard@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host}:5999;branch={branch};rport\r\n"
        f"Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKupstream\r\n"
        f"From: <sip:peer@example.com>;tag=p1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: cid-{branch}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def test_options_gets_200_echoing_the_request_and_stamping_via(peer: UdpPeer) -> None:
    assert peer.transport is not None
    peer.transport.sendto(request("OPTIONS", via_host="198.51.100.7"))
    response = await peer.response()

    assert response.status == 200
    assert "INVITE" in (response.get("Allow") or "")
    top, upstream = response.values("Via")
    via = Via.parse(top)
    assert via.params["received"] == "127.0.0.1"  # the source, not the claimed host
    assert via.params["rport"] == str(peer.transport.get_extra_info("sockname")[1])
    assert upstream == "SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKupstream"
    assert response.get("From") == "<sip:peer@example.com>;tag=p1"
    assert NameAddr.parse(response.get("To") or "").tag
    assert (response.call_id, response.cseq) == ("cid-z9hG4bKpeer1", (1, "OPTIONS"))


async def test_a_retransmitted_request_gets_the_same_response(peer: UdpPeer) -> None:
    assert peer.transport is not None
    peer.transport.sendto(request("OPTIONS"))
    first = await peer.response()
    peer.transport.sendto(request("OPTIONS"))
    second = await peer.response()
    assert first.to_bytes() == second.to_bytes()


@pytest.mark.parametrize(
    ("method", "status"),
    [
        ("BYE", 481),
        ("UPDATE", 481),
        ("INFO", 481),
        ("INVITE", 481),
    ],
)
async def test_requests_for_unknown_dialogs_get_481(
    peer: UdpPeer, method: str, status: int
) -> None:
    assert peer.transport is not None
    peer.transport.sendto(request(method, to_tag="nosuchdialog"))
    assert (await peer.response()).status == status


@pytest.mark.parametrize(
    ("method", "status"),
    [
        ("INVITE", 403),
        ("BYE", 481),
        ("REGISTER", 405),
        ("FROB", 501),
    ],
)
async def test_requests_outside_a_dialog(peer: UdpPeer, method: str, status: int) -> None:
    assert peer.transport is not None
    peer.transport.sendto(request(method))
    assert (await peer.response()).status == status


async def test_a_rejected_invite_is_retransmitted_until_acked(peer: UdpPeer) -> None:
    assert peer.transport is not None
    peer.transport.sendto(request("INVITE", branch="z9hG4bKinv"))
    first = await peer.response()
    assert first.status == 403
    again = await peer.response(within=0.5)  # timer G, T1 = 50 ms
    assert again.to_bytes() == first.to_bytes()
    ack = request("ACK", branch="z9hG4bKinv").replace(
        b"To: <sip:switchboard@127.0.0.1>", f"To: {first.get('To')}".encode()
    )
    peer.transport.sendto(ack)
    await asyncio.sleep(0.05)
    while not peer.received.empty():
        peer.received.get_nowait()
    assert await peer.silence()


async def test_tcp_stream_framing_with_joined_and_split_messages(endpoint: Endpoint) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
    one, two, three = (request("OPTIONS", branch=f"z9hG4bKtcp{n}") for n in range(3))
    writer.write(b"\r\n\r\n" + one + two + three[:40])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(three[40:])
    await writer.drain()

    branches = []
    for _ in range(3):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
        response = parse_message(head, stream=True)
        assert isinstance(response, Response) and response.status == 200
        branches.append(Via.parse(response.values("Via")[0]).branch)
    assert branches == ["z9hG4bKtcp0", "z9hG4bKtcp1", "z9hG4bKtcp2"]
    writer.close()
    await writer.wait_closed()


def test_advertised_address_goes_in_via_and_contact_not_the_bound_one() -> None:
    endpoint = Endpoint(
        SipConfig(
            bind_host="0.0.0.0", bind_port=5062, advertised_host="203.0.113.5", advertised_port=5070
        )
    )
    via = Via.parse(endpoint.via("tcp"))
    assert (via.transport, via.host, via.port) == ("TCP", "203.0.113.5", 5070)
    assert "rport" in via.params and (via.branch or "").startswith("z9hG4bK")
    assert endpoint.contact("tcp") == "<sip:switchboard@203.0.113.5:5070;transport=tcp>"
    assert endpoint.contact("udp") == "<sip:switchboard@203.0.113.5:5070>"
