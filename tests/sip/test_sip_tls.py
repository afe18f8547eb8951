"""The trunk leg over TLS, with kamailio as the carrier's TLS edge (its configuration is below):
Switchboard finds the edge by NAPTR (``SIPS+D2T``) and SRV on a stub name server, opens TLS
with the CA from its configuration and checks the edge's certificate against the trunk's
domain, sends ``sips:`` with ``Via: SIP/2.0/TLS`` and a ``sips:`` Contact on its own TLS port;
the edge relays to the trunk (SIPp, UDP) and back, and relays the trunk's BYE to that Contact
over a TLS connection it opens to us. A CA that did not sign the edge's certificate fails the
call as the destination's failure, with nothing sent in clear.

The SIPp agent and trunk talk UDP; only the trunk leg between Switchboard and the edge is TLS.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import DEFAULT_NUMBER, RECEIVE_BYE, SipHarness, send_bye
from tests.sip.test_sip_calls import REJECTED_OFFER
from tests.support.certs import Leaf, TestCa, openssl_available
from tests.support.dns import StubDns
from tests.support.kamailio import KAMAILIO, MODULES, ROUTE_START, KamailioProcess
from tests.support.sipp import free_port

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(
        KAMAILIO is None or not Path(MODULES, "tls.so").exists(),
        reason="kamailio with TLS not found: install kamailio and kamailio-tls-modules",
    ),
    pytest.mark.skipif(not openssl_available(), reason="openssl not found"),
]

EDGE_CONFIG = (
    """#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=1
tcp_children=2
auto_aliases=no
enable_tls=yes
listen=udp:127.0.0.1:{udp_port}
listen=tls:127.0.0.1:{tls_port}
alias="trunk.test"
alias="127.0.0.1:{tls_port}"
dns=no
rev_dns=no

mpath="{modules}"
loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
loadmodule "textops.so"

modparam("tls", "config", "{dir}/tls.cfg")
modparam("tm", "fr_timer", 1500)
modparam("tm", "fr_inv_timer", 60000)
modparam("rr", "enable_full_lr", 1)

request_route {{
"""
    + ROUTE_START
    + """    if (is_method("INVITE")) {{
        record_route();
    }}
    # A number for the trunk's domain: on to the PSTN side (the SIPp trunk) in plain SIP.
    if (uri == myself && $rU =~ "^\\+[0-9]+$") {{
        $ru = "sip:" + $rU + "@127.0.0.1:{trunk_port}";
    }}
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""
)

# Ours is the CA's business (the test's); the edge does not check client certificates.
TLS_CONFIG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


class TlsEdge(KamailioProcess):
    """kamailio listening on TLS toward Switchboard and on UDP toward the trunk."""

    def __init__(self, workdir: Path, leaf: Leaf, trunk_port: int) -> None:
        super().__init__(workdir / "edge")
        self.udp_port = free_port()
        self.tls_port = free_port()
        self.leaf = leaf
        self.trunk_port = trunk_port

    async def start(self, within: float = 10.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tls.cfg").write_text(TLS_CONFIG.format(key=self.leaf.key, cert=self.leaf.cert))
        config = EDGE_CONFIG.format(
            udp_port=self.udp_port,
            tls_port=self.tls_port,
            modules=MODULES,
            dir=self.dir,
            trunk_port=self.trunk_port,
        )
        await self.run(config, [(self.udp_port, "udp"), (self.tls_port, "tcp")], within)

    def relayed(self, method: str, over: str) -> int:
        return sum(
            1
            for line in self.log().splitlines()
            if f"request {method} " in line and line.endswith(f"over {over}")
        )


@pytest.fixture
def transport() -> str:
    """The SIPp peers talk UDP (the trunk leg's TLS is between Switchboard and the edge)."""
    return "udp"


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


@pytest.fixture
async def stub() -> AsyncIterator[StubDns]:
    server = await StubDns({}).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def edges(tmp_path: Path) -> AsyncIterator[list[TlsEdge]]:
    started: list[TlsEdge] = []
    try:
        yield started
    finally:
        for edge in started:
            await edge.stop()


async def edge_for(
    sip: SipHarness,
    edges: list[TlsEdge],
    ca: TestCa,
    trunk_port: int,
    names: tuple[str, ...] = ("trunk.test", "127.0.0.1"),
) -> TlsEdge:
    edge = TlsEdge(sip.workdir, ca.issue("edge", list(names)), trunk_port)
    await edge.start()
    edges.append(edge)
    return edge


def tls_settings(ca: TestCa, ca_file: Path | None = None) -> dict[str, Any]:
    ours = ca.issue("switchboard", ["127.0.0.1"])
    return {
        "listen_tls": True,
        "tls_port": 0,
        "tls_ca_file": str(ca_file or ca.cert),
        "tls_cert_file": str(ours.cert),
        "tls_key_file": str(ours.key),
    }


def discovering_tls(stub: StubDns, edge: TlsEdge) -> None:
    """trunk.test offers TLS first; its UDP service leads nowhere, so only TLS can work."""
    stub.zone = {
        ("trunk.test", "NAPTR"): [
            '10 50 "s" "SIPS+D2T" "" _sips._tcp.trunk.test.',
            '20 50 "s" "SIP+D2U" "" _sip._udp.trunk.test.',
        ],
        ("_sips._tcp.trunk.test", "SRV"): [f"10 0 {edge.tls_port} edge1.trunk.test."],
        ("_sip._udp.trunk.test", "SRV"): [f"10 0 {free_port()} edge1.trunk.test."],
        ("edge1.trunk.test", "A"): ["127.0.0.1"],
    }


def bye_with_routes(after_ms: int = 200) -> str:
    """The trunk's BYE, through the edge: the route set the INVITE's Record-Route gave."""
    return send_bye(after_ms).replace("      From:", "      [routes]\n      From:", 1)


async def test_a_trunk_leg_over_tls_connects_and_the_destination_hangs_up(
    sip: SipHarness, stub: StubDns, edges: list[TlsEdge], ca: TestCa
) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer(
        "trunk_behind_edge.xml", OFFER_RE="o=agent", ORIGIN="trunk", HANGUP=bye_with_routes()
    )
    edge = await edge_for(sip, edges, ca, trunk.port)
    discovering_tls(stub, edge)
    engine = await sip.open_engine(
        trunk_host="trunk.test",
        trunk_port=None,
        trunk_transport=None,
        dns_server=stub.address,
        **tls_settings(ca),
    )
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()
    log = edge.log()
    assert f"request INVITE sips:{DEFAULT_NUMBER}@trunk.test from 127.0.0.1:" in log
    assert edge.relayed("INVITE", "tls") == 1
    assert edge.relayed("ACK", "tls") == 1  # our ACK followed the edge's Record-Route
    # The trunk's BYE came in over UDP and went on to our sips: Contact on our TLS port.
    assert edge.relayed("BYE", "udp") == 1
    assert f"BYE sips:switchboard@127.0.0.1:{engine.tls_port}" in log


async def test_a_trunk_leg_over_tls_connects_and_the_agent_hangs_up(
    sip: SipHarness, stub: StubDns, edges: list[TlsEdge], ca: TestCa
) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=send_bye())
    trunk = await sip.peer(
        "trunk_behind_edge.xml", OFFER_RE="o=agent", ORIGIN="trunk", HANGUP=RECEIVE_BYE
    )
    edge = await edge_for(sip, edges, ca, trunk.port)
    discovering_tls(stub, edge)
    await sip.open_engine(
        trunk_host="trunk.test",
        trunk_port=None,
        trunk_transport=None,
        dns_server=stub.address,
        **tls_settings(ca),
    )
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    await sip.assert_peers_passed()
    assert edge.relayed("BYE", "tls") == 1  # ours, over the TLS connection to the edge


async def test_an_edge_certificate_from_another_ca_fails_the_call(
    sip: SipHarness,
    edges: list[TlsEdge],
    ca: TestCa,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = TestCa(tmp_path / "stranger", "Someone Else's CA")
    agent = await sip.peer("agent_flow1.xml", ACK_RE=REJECTED_OFFER, HANGUP=RECEIVE_BYE)
    edge = await edge_for(sip, edges, ca, free_port())
    await sip.open_engine(
        trunk_host="127.0.0.1",
        trunk_port=edge.tls_port,
        trunk_transport="tls",
        **tls_settings(ca, ca_file=stranger.cert),
    )
    setup = sip.setup(agent.uri())
    caplog.set_level(logging.WARNING, "switchboard.adapters.telephony.sip.transport")

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, Reason.CALL_FAILED
    )
    await sip.assert_peers_passed()
    assert "certificate verify failed" in caplog.text
    assert edge.relayed("INVITE", "tls") == 0  # nothing got past the handshake


@pytest.mark.parametrize("verify_hostname", [True, False])
async def test_an_edge_certificate_for_another_name_fails_unless_names_are_not_checked(
    sip: SipHarness,
    edges: list[TlsEdge],
    ca: TestCa,
    caplog: pytest.LogCaptureFixture,
    verify_hostname: bool,
) -> None:
    """The edge's certificate chains to our CA but names someone else, not 127.0.0.1."""
    if verify_hostname:
        agent = await sip.peer("agent_flow1.xml", ACK_RE=REJECTED_OFFER, HANGUP=RECEIVE_BYE)
        trunk_port = free_port()
    else:
        agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=send_bye())
        trunk = await sip.peer(
            "trunk_behind_edge.xml", OFFER_RE="o=agent", ORIGIN="trunk", HANGUP=RECEIVE_BYE
        )
        trunk_port = trunk.port
    edge = await edge_for(sip, edges, ca, trunk_port, names=("edge.example",))
    await sip.open_engine(
        trunk_host="127.0.0.1",
        trunk_port=edge.tls_port,
        trunk_transport="tls",
        tls_verify_hostname=verify_hostname,
        **tls_settings(ca),
    )
    setup = sip.setup(agent.uri())
    caplog.set_level(logging.WARNING, "switchboard.adapters.telephony.sip.transport")

    assert await sip.start(setup) is StartOutcome.RINGING
    expected = (
        CallResult.failure(Party.DESTINATION, Reason.CALL_FAILED)
        if verify_hostname
        else CallResult.hung_up(Party.ORIGINATOR)
    )
    assert await sip.signals.wait_ended(setup.call_id) == expected
    await sip.assert_peers_passed()
    assert ("certificate is not valid for '127.0.0.1'" in caplog.text) is verify_hostname
    assert edge.relayed("INVITE", "tls") == (0 if verify_hostname else 1)
