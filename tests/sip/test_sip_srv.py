"""RFC 3263: a trunk named without a port is found by DNS SRV, and a leg moves to the next
target on 503, a timeout or a transport error. The engine takes the resolver port; these tests
give it a fake of that port (a table of records), and check the DNS client on the wire against
a stub name server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from switchboard.adapters.telephony.sip.clock import ManualClock
from switchboard.adapters.telephony.sip.resolver import (
    SRV,
    DnsResolver,
    SrvRecord,
    ordered,
    parse_answer,
    query,
)
from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye
from tests.sip.test_sip_calls import flow_i_trunk
from tests.support.sipp import free_port


class TableResolver:
    """The resolver port answered from a table; records what it was asked."""

    def __init__(self, table: dict[str, list[SrvRecord]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def srv(self, name: str) -> list[SrvRecord]:
        self.asked.append(name)
        return self.table.get(name, [])


def test_targets_are_tried_by_priority_then_weight() -> None:
    records = [
        SrvRecord(20, 0, 5062, "c.test"),
        SrvRecord(10, 10, 5061, "b.test"),
        SrvRecord(10, 90, 5060, "a.test"),
        SrvRecord(5, 0, 0, "."),  # "not offered here"
    ]
    assert [record.target for record in ordered(records)] == ["a.test", "b.test", "c.test"]


def srv_answer(ident: int, name: str, records: list[SrvRecord]) -> bytes:
    """A name server's answer, written by hand, with the owner name compressed."""
    question = query(name, ident)[12:]
    out = struct.pack("!HHHHHH", ident, 0x8180, 1, len(records), 0, 0) + question
    for record in records:
        target = b"".join(bytes([len(p)]) + p.encode() for p in record.target.split(".")) + b"\0"
        data = struct.pack("!HHH", record.priority, record.weight, record.port) + target
        out += b"\xc0\x0c" + struct.pack("!HHIH", SRV, 1, 300, len(data)) + data
    return out


async def test_the_dns_client_reads_srv_records_from_a_name_server() -> None:
    records = [
        SrvRecord(10, 60, 5060, "sbc1.trunk.test"),
        SrvRecord(20, 0, 5070, "sbc2.trunk.test"),
    ]
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    loop = asyncio.get_running_loop()
    questions: list[bytes] = []

    async def serve() -> None:
        data, peer = await loop.sock_recvfrom(server, 512)
        questions.append(data)
        ident = struct.unpack("!H", data[:2])[0]
        await loop.sock_sendto(server, srv_answer(ident, "_sip._udp.trunk.test", records), peer)

    clock = ManualClock()
    resolver = DnsResolver(clock, nameserver=server.getsockname(), ttl_s=60, timeout_s=2)
    try:
        async with asyncio.timeout(5):
            served = asyncio.ensure_future(serve())
            assert await resolver.srv("_sip._udp.trunk.test") == records
            await served
            assert await resolver.srv("_sip._udp.trunk.test") == records  # cached
            assert len(questions) == 1
            assert b"\x04_sip\x04_udp\x05trunk\x04test\x00\x00\x21\x00\x01" in questions[0]
    finally:
        server.close()


def test_a_hostile_answer_is_a_format_error_not_a_crash() -> None:
    looped = struct.pack("!HHHHHH", 7, 0x8180, 0, 1, 0, 0) + b"\xc0\x0c"
    with pytest.raises(ValueError):
        parse_answer(looped, 7)
    assert parse_answer(struct.pack("!HHHHHH", 7, 0x8183, 0, 0, 0, 0), 7) == []  # NXDOMAIN


async def test_a_lookup_nobody_answers_gives_no_records() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        resolver = DnsResolver(ManualClock(), nameserver=silent.getsockname(), timeout_s=0.1)
        async with asyncio.timeout(5):
            assert await resolver.srv("_sip._udp.trunk.test") == []
    finally:
        silent.close()


@pytest.mark.sip
async def test_a_503_from_the_first_srv_target_moves_the_call_to_the_next(
    sip: SipHarness,
) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    failing = await sip.peer("reject.xml", PROVISIONAL="", CODE="503", REASON="Unavailable")
    working = await flow_i_trunk(sip, send_bye(100))
    resolver = TableResolver(
        {
            f"_sip._{sip.transport}.trunk.test": [
                SrvRecord(20, 0, working.port, "127.0.0.1"),
                SrvRecord(10, 0, failing.port, "127.0.0.1"),
            ]
        }
    )
    await sip.open_engine(trunk_host="trunk.test", trunk_port=None, resolver=resolver)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()
    assert resolver.asked == [f"_sip._{sip.transport}.trunk.test"]


@pytest.mark.sip
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_an_unreachable_first_target_moves_the_call_to_the_next(sip: SipHarness) -> None:
    """TCP: the connection is refused at once. UDP: timer B (64*T1, 3.2 s here) runs out."""
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    working = await flow_i_trunk(sip, send_bye(100))
    resolver = TableResolver(
        {
            f"_sip._{sip.transport}.trunk.test": [
                SrvRecord(10, 0, free_port(), "127.0.0.1"),  # nobody there
                SrvRecord(20, 0, working.port, "127.0.0.1"),
            ]
        }
    )
    await sip.open_engine(trunk_host="trunk.test", trunk_port=None, resolver=resolver)
    setup = sip.setup(agent.uri(), destination_timeout_s=15)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()
