"""RFC 3263 section 4 against a stub name server on 127.0.0.1 (``tests/support/dns.py``): the
trunk's transport found by NAPTR (else by which SRV names exist, else UDP), its targets by SRV
and A, the configured transport or port cutting discovery short, and a call that fails over
from the first target DNS gave to the next."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from switchboard.adapters.telephony.sip.clock import ManualClock
from switchboard.adapters.telephony.sip.locate import Located, locate
from switchboard.adapters.telephony.sip.resolver import DnsResolver
from switchboard.adapters.telephony.sip.transport import Target
from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye
from tests.sip.test_sip_calls import flow_i_trunk
from tests.support.dns import StubDns
from tests.support.sipp import free_port

ALL = ("tls", "tcp", "udp")
NAPTR_ALL = [
    '10 50 "s" "SIPS+D2T" "" _sips._tcp.trunk.test.',
    '20 50 "s" "SIP+D2T" "" _sip._tcp.trunk.test.',
    '30 50 "s" "SIP+D2U" "" _sip._udp.trunk.test.',
]
SRV_ALL = {
    ("_sips._tcp.trunk.test", "SRV"): ["10 0 5061 tls1.trunk.test."],
    ("_sip._tcp.trunk.test", "SRV"): ["10 0 5060 tcp1.trunk.test."],
    ("_sip._udp.trunk.test", "SRV"): ["10 0 5060 udp1.trunk.test."],
    ("tls1.trunk.test", "A"): ["192.0.2.1"],
    ("tcp1.trunk.test", "A"): ["192.0.2.2"],
    ("udp1.trunk.test", "A"): ["192.0.2.3"],
    ("trunk.test", "A"): ["192.0.2.9"],
}


@pytest.fixture
async def stub() -> AsyncIterator[StubDns]:
    server = await StubDns({}).start()
    try:
        yield server
    finally:
        server.close()


async def find(
    stub: StubDns,
    *,
    port: int | None = None,
    transport: str | None = None,
    supported: tuple[str, ...] = ALL,
) -> Located:
    resolver = DnsResolver(ManualClock(), nameserver=stub.address, timeout_s=0.5)
    async with asyncio.timeout(10):
        return await locate(
            resolver, "trunk.test", port=port, transport=transport, supported=supported
        )


async def test_naptr_prefers_tls_and_the_certificate_must_name_the_trunk(stub: StubDns) -> None:
    stub.zone = {("trunk.test", "NAPTR"): NAPTR_ALL, **SRV_ALL}
    found = await find(stub)
    # RFC 5922: checked against the domain we were given, not the SRV target DNS handed us.
    assert found == Located("tls", (Target("tls", "192.0.2.1", 5061, "trunk.test"),))
    assert stub.asked == [
        ("trunk.test", "NAPTR"),
        ("_sips._tcp.trunk.test", "SRV"),
        ("tls1.trunk.test", "A"),
    ]


async def test_naptr_services_we_do_not_support_are_passed_over(stub: StubDns) -> None:
    stub.zone = {("trunk.test", "NAPTR"): NAPTR_ALL, **SRV_ALL}
    assert await find(stub, supported=("tcp", "udp")) == Located(
        "tcp", (Target("tcp", "192.0.2.2", 5060),)
    )
    assert ("_sips._tcp.trunk.test", "SRV") not in stub.asked


async def test_naptr_order_beats_our_preference_and_junk_records_are_ignored(
    stub: StubDns,
) -> None:
    stub.zone = {
        ("trunk.test", "NAPTR"): [
            '5 10 "u" "E2U+sip" "!^.*$!sip:x@y!" .',  # ENUM, not for us
            '10 10 "s" "SIP+D2S" "" _sip._sctp.trunk.test.',  # SCTP: unsupported
            '20 10 "s" "SIP+D2U" "" _sip._udp.trunk.test.',
            '20 20 "s" "SIP+D2T" "" _sip._tcp.trunk.test.',  # same order, less preferred
        ],
        **SRV_ALL,
    }
    assert await find(stub) == Located("udp", (Target("udp", "192.0.2.3", 5060),))


async def test_a_naptr_whose_srv_is_empty_gives_way_to_the_next(stub: StubDns) -> None:
    stub.zone = {
        ("trunk.test", "NAPTR"): [
            '10 50 "s" "SIP+D2T" "" _sip._tcp.gone.test.',
            '20 50 "s" "SIP+D2U" "" _sip._udp.trunk.test.',
        ],
        **SRV_ALL,
    }
    assert await find(stub) == Located("udp", (Target("udp", "192.0.2.3", 5060),))
    assert ("_sip._tcp.gone.test", "SRV") in stub.asked


async def test_without_naptr_the_first_srv_name_that_exists_wins(stub: StubDns) -> None:
    stub.zone = {k: v for k, v in SRV_ALL.items() if not k[0].startswith("_sips")}
    assert await find(stub) == Located("tcp", (Target("tcp", "192.0.2.2", 5060),))
    assert stub.asked[:3] == [
        ("trunk.test", "NAPTR"),
        ("_sips._tcp.trunk.test", "SRV"),
        ("_sip._tcp.trunk.test", "SRV"),
    ]


async def test_without_naptr_or_srv_it_is_udp_to_the_address_on_5060(stub: StubDns) -> None:
    stub.zone = {("trunk.test", "A"): ["192.0.2.9"]}
    assert await find(stub) == Located("udp", (Target("udp", "192.0.2.9", 5060),))


async def test_a_configured_transport_skips_naptr(stub: StubDns) -> None:
    stub.zone = {("trunk.test", "NAPTR"): NAPTR_ALL, **SRV_ALL}
    assert await find(stub, transport="tcp") == Located("tcp", (Target("tcp", "192.0.2.2", 5060),))
    assert stub.asked_for("NAPTR") == []


async def test_a_configured_port_means_the_address_records_only(stub: StubDns) -> None:
    stub.zone = {("trunk.test", "NAPTR"): NAPTR_ALL, **SRV_ALL}
    assert await find(stub, port=5080) == Located("udp", (Target("udp", "192.0.2.9", 5080),))
    assert stub.asked == [("trunk.test", "A")]


async def test_every_address_of_every_srv_target_is_a_target_in_order(stub: StubDns) -> None:
    stub.zone = {
        ("_sip._tcp.trunk.test", "SRV"): [
            "20 0 5070 backup.trunk.test.",
            "10 0 5060 primary.trunk.test.",
        ],
        ("primary.trunk.test", "A"): ["192.0.2.10", "192.0.2.11"],
        ("backup.trunk.test", "A"): ["192.0.2.20"],
    }
    found = await find(stub, transport="tcp")
    assert [target.port for target in found.targets] == [5060, 5060, 5070]
    assert sorted(target.host for target in found.targets[:2]) == ["192.0.2.10", "192.0.2.11"]
    assert found.targets[2].host == "192.0.2.20"


async def test_an_unreadable_answer_is_no_records_not_a_crash(stub: StubDns) -> None:
    class Garbage(StubDns):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            assert self._transport is not None
            self._transport.sendto(data[:2] + b"\x81\x80\x00\x01\x00\x05" + b"\xc0" * 40, addr)

    garbage = await Garbage({}).start()
    try:
        resolver = DnsResolver(ManualClock(), nameserver=garbage.address, timeout_s=0.3)
        async with asyncio.timeout(10):
            assert await resolver.naptr("trunk.test") == []
    finally:
        garbage.close()


# --------------------------------------------------------------------------- through the engine


@pytest.mark.sip
async def test_a_trunk_found_by_naptr_fails_over_from_a_503_to_the_next_target(
    sip: SipHarness, stub: StubDns
) -> None:
    """No transport configured: NAPTR says which (TLS is offered first, but we do not listen
    on TLS, so it is passed over), SRV gives two targets, the first answers 503."""
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    failing = await sip.peer("reject.xml", PROVISIONAL="", CODE="503", REASON="Unavailable")
    working = await flow_i_trunk(sip, send_bye(100))
    service = {"udp": "SIP+D2U", "tcp": "SIP+D2T"}[sip.transport]
    srv_name = f"_sip._{sip.transport}.trunk.test"
    stub.zone = {
        ("trunk.test", "NAPTR"): [
            '10 50 "s" "SIPS+D2T" "" _sips._tcp.trunk.test.',
            f'20 50 "s" "{service}" "" {srv_name}.',
        ],
        ("_sips._tcp.trunk.test", "SRV"): [f"10 0 {free_port()} sbc1.trunk.test."],
        (srv_name, "SRV"): [
            f"10 0 {failing.port} sbc1.trunk.test.",
            f"20 0 {working.port} sbc2.trunk.test.",
        ],
        ("sbc1.trunk.test", "A"): ["127.0.0.1"],
        ("sbc2.trunk.test", "A"): ["127.0.0.1"],
    }
    await sip.open_engine(
        trunk_host="trunk.test", trunk_port=None, trunk_transport=None, dns_server=stub.address
    )
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()
    assert stub.asked[:2] == [("trunk.test", "NAPTR"), (srv_name, "SRV")]


async def test_without_a_configured_name_server_addresses_come_from_the_system() -> None:
    """/etc/hosts applies to the trunk's names as to every other name (no DNS asked)."""
    resolver = DnsResolver(ManualClock(), timeout_s=0.2)
    async with asyncio.timeout(10):
        assert await resolver.addresses("localhost") == ["127.0.0.1"]
