"""The engine's decisions before any SIP goes out: which flow a call gets, and which calls are
refused before the agent's phone rings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.adapters.clock import SystemClock
from switchboard.adapters.telephony.sip import SipConfig, SipEngine
from switchboard.adapters.telephony.sip.engine import choose_flow
from switchboard.adapters.telephony.sip.tls import TlsConfigError, TlsFiles, client_context
from switchboard.adapters.telephony.sip.transitions import Flow
from switchboard.bootstrap import build_engine, check_telephony
from switchboard.config import ConfigError, Settings, load_settings
from switchboard.service.ports import CallSetup, StartOutcome
from tests.sip.sip_harness import FakeSignals, now
from tests.support.certs import TestCa, openssl_available


def setup_for(
    *, number: str | None = "+441632960123", phone: str | None = None, ring_s: float = 10.0
) -> CallSetup:
    return CallSetup(
        call_id="call-1",
        agent_phone="sip:agent@127.0.0.1:5999",
        destination_e164=None if phone else number,
        destination_phone=phone,
        presented_clid_e164="+441632960001",
        agent_timeout_s=5.0,
        destination_timeout_s=ring_s,
    )


@pytest.mark.parametrize(
    ("listed", "setup", "flow"),
    [
        ((), setup_for(), Flow.IV),  # a person by default, whatever the ring time
        (("+441632960123",), setup_for(), Flow.I),
        (("441632960*",), setup_for(), Flow.I),
        (("+441632960123",), setup_for(ring_s=60), Flow.IV),  # the held 2xx would die
        (("+441632960124",), setup_for(), Flow.IV),
        (("+441632960123",), setup_for(phone="sip:bob@127.0.0.1:5998"), Flow.IV),  # an agent
    ],
)
def test_flow_iv_for_people_and_flow_i_only_for_listed_numbers(
    listed: tuple[str, ...], setup: CallSetup, flow: Flow
) -> None:
    config = SipConfig(bind_host="127.0.0.1", flow_i_numbers=listed)
    assert choose_flow(config, setup) is flow


def test_flow_i_numbers_must_be_numbers() -> None:
    with pytest.raises(ValueError, match="flow_i_numbers"):
        SipConfig(flow_i_numbers=("sip:x@example.com",))


async def test_a_number_without_a_trunk_is_refused_before_the_agent_is_rung() -> None:
    signals = FakeSignals()
    engine = SipEngine(SipConfig(bind_host="127.0.0.1", bind_port=0, t1_ms=50), now)
    engine.bind(signals)
    await engine.open()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        phone.settimeout(0.3)
        setup = CallSetup(
            call_id="call-1",
            agent_phone=f"sip:agent@127.0.0.1:{phone.getsockname()[1]}",
            destination_e164="+441632960123",
            destination_phone=None,
            presented_clid_e164=None,
            agent_timeout_s=5.0,
            destination_timeout_s=10.0,
        )
        try:
            assert await engine.start(setup) is StartOutcome.AGENT_UNREACHABLE
            with pytest.raises(TimeoutError):
                phone.recvfrom(65535)  # the agent's phone never heard of the call
            assert engine.calls_in_progress == 0
            assert engine._endpoint.active_usages == 0
            assert signals.log == []
        finally:
            await engine.close()


def test_serving_sip_without_a_trunk_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_TELEPHONY"] = "sip"
    env["SWITCHBOARD_SIP_BIND_PORT"] = "0"
    database = f"sqlite:///{tmp_path / 'sb.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "serve", "--port", "0", "--database", database],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: SWITCHBOARD_SIP_TRUNK_HOST is required")
    assert not (tmp_path / "sb.db").exists()  # refused before anything was touched


def test_an_agents_only_deployment_needs_no_trunk() -> None:
    check_telephony(Settings(telephony="sip", sip_agents_only=True))
    check_telephony(Settings(telephony="sip", sip_trunk_host="trunk.example"))
    check_telephony(Settings(telephony="simulator"))
    with pytest.raises(ConfigError, match="SWITCHBOARD_SIP_TRUNK_HOST"):
        check_telephony(Settings(telephony="sip"))


# --------------------------------------------------------------------------- TLS settings


def test_tls_files_that_do_not_exist_fail_at_start_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"SWITCHBOARD_SIP_TLS_CA_FILE: .*no such file"):
        load_settings(sip_tls_ca_file="/nonexistent/ca.pem")
    with pytest.raises(ConfigError, match=r"SWITCHBOARD_SIP_DNS_SERVER: .*port"):
        load_settings(sip_dns_server="127.0.0.1:dns")


def test_a_certificate_that_does_not_load_fails_at_start(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    settings = Settings(
        telephony="sip",
        sip_trunk_host="trunk.example",
        sip_listen_tls=True,
        sip_tls_cert_file=str(junk),
        sip_tls_key_file=str(junk),
    )
    with pytest.raises(ConfigError, match=f"SWITCHBOARD_SIP_.*{junk}"):
        build_engine(settings, SystemClock())


def test_a_tls_trunk_without_a_tls_listener_fails_at_start() -> None:
    settings = Settings(telephony="sip", sip_trunk_host="trunk.example", sip_trunk_transport="tls")
    with pytest.raises(ConfigError, match="TLS trunk needs listen_tls"):
        build_engine(settings, SystemClock())


@pytest.mark.skipif(not openssl_available(), reason="openssl not found")
async def test_over_tls_via_and_contact_name_our_tls_port(tmp_path: Path) -> None:
    ours = TestCa(tmp_path / "ca").issue("switchboard", ["127.0.0.1"])
    config = SipConfig(
        bind_host="127.0.0.1",
        bind_port=0,
        listen_tls=True,
        tls_port=0,
        tls_cert_file=str(ours.cert),
        tls_key_file=str(ours.key),
    )
    engine = SipEngine(config, now)
    await engine.open()
    try:
        endpoint = engine._endpoint
        assert engine.tls_port not in (0, engine.port)
        assert endpoint.contact("tls") == f"<sips:switchboard@127.0.0.1:{engine.tls_port}>"
        assert endpoint.via("tls").startswith(f"SIP/2.0/TLS 127.0.0.1:{engine.tls_port};")
        assert endpoint.contact("tcp") == f"<sip:switchboard@127.0.0.1:{engine.port};transport=tcp>"
        assert engine.supported_transports == ("tls", "tcp", "udp")
    finally:
        await engine.close()


def test_a_ca_file_that_does_not_load_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(TlsConfigError, match=f"CA file {junk}"):
        client_context(TlsFiles(ca_file=str(junk)))
