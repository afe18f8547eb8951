"""RFC 3263: a trunk named without a port is found by DNS SRV, and a leg moves to the next
target on 503, a timeout or a transport error. The engine takes the resolver port; these tests
give it a fake of that port (a table of records), and check the DNS client on the wire against
a stub name server on 127.0.0.1 (NAPTR discovery: ``test_sip_naptr.py``)."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.adapters.telephony.sip.clock import ManualClock
from switchboard.adapters.telephony.sip.resolver import (
    DnsResolver,
    NaptrRecord,
    SrvRecord,
    ordered,
)
from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye
from tests.sip.test_sip_calls import flow_i_trunk
from tests.support.dns import StubDns
from tests.support.sipp import free_port


class TableResolver:
    """The resolver port answered from a table; records what it was asked. Names it has no
    addresses for stay names (the transport resolves them)."""

    def __init__(
        self,
        table: dict[str, list[SrvRecord]],
        naptr: dict[str, list[NaptrRecord]] | None = None,
        addresses: dict[str, list[str]] | None = None,
    ) -> None:
        self.table = table
        self.naptr_table = naptr or {}
        self.address_table = addresses or {}
        self.asked: list[str] = []

    async def naptr(self, name: str) -> list[NaptrRecord]:
        self.asked.append(f"NAPTR {name}")
        return self.naptr_table.get(name, [])

    async def srv(self, name: str) -> list[SrvRecord]:
        self.asked.append(name)
        return self.table.get(name, [])

    async def addresses(self, name: str) -> list[str]:
        self.asked.append(f"A {name}")
        return self.address_table.get(name, [])


def test_targets_are_tried_by_priority_then_weight() -> None:
    records = [
        SrvRecord(20, 0, 5062, "c.test"),
        SrvRecord(10, 10, 5061, "b.test"),
        SrvRecord(10, 90, 5060, "a.test"),
        SrvRecord(5, 0, 0, "."),  # "not offered here"
    ]
    assert [record.target for record in ordered(records)] == ["a.test", "b.test", "c.test"]


async def test_the_dns_client_reads_srv_records_from_a_name_server() -> None:
    stub = await StubDns(
        {
            ("_sip._udp.trunk.test", "SRV"): [
                "10 60 5060 sbc1.trunk.test.",
                "20 0 5070 sbc2.trunk.test.",
            ]
        }
    ).start()
    clock = ManualClock()
    resolver = DnsResolver(clock, nameserver=stub.address, ttl_s=60, timeout_s=2)
    expected = [
        SrvRecord(10, 60, 5060, "sbc1.trunk.test"),
        SrvRecord(20, 0, 5070, "sbc2.trunk.test"),
    ]
    try:
        async with asyncio.timeout(5):
            assert sorted(await resolver.srv("_sip._udp.trunk.test"), key=str) == expected
            assert sorted(await resolver.srv("_sip._udp.trunk.test"), key=str) == expected
            assert stub.asked == [("_sip._udp.trunk.test", "SRV")]  # the second was cached
            clock.advance(61)  # past the TTL: asked again
            await resolver.srv("_sip._udp.trunk.test")
            assert len(stub.asked) == 2
            assert await resolver.srv("_sip._udp.nowhere.test") == []  # NXDOMAIN
    finally:
        stub.close()


async def test_a_lookup_nobody_answers_gives_no_records() -> None:
    stub = await StubDns({}).start()
    stub.silent = True
    try:
        resolver = DnsResolver(ManualClock(), nameserver=stub.address, timeout_s=0.1)
        async with asyncio.timeout(5):
            assert await resolver.srv("_sip._udp.trunk.test") == []
            assert await resolver.naptr("trunk.test") == []
            assert await resolver.addresses("trunk.test") == []
    finally:
        stub.close()


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
