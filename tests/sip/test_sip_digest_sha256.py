"""SHA-256 digest (RFC 8760) against a SIPp trunk that offers MD5 first and SHA-256 second:
the retry answers SHA-256, and its response is what the test computes from the password."""

from __future__ import annotations

import hashlib
import re

import pytest

from switchboard.adapters.telephony.sip.auth import parse_auth_params
from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness

pytestmark = pytest.mark.sip


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def authorization_sent(message_log: str) -> dict[str, str]:
    """The Authorization header of the INVITE the trunk received with credentials."""
    found = re.findall(r"^Authorization: Digest (.*)$", message_log, re.MULTILINE)
    assert found, "no INVITE with credentials reached the trunk"
    return parse_auth_params(found[0].strip())


async def test_a_sha_256_challenge_is_answered_with_sha_256(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("trunk_auth_sha256.xml")
    engine = await sip.open_engine(trunk=trunk, trunk_username="acme", trunk_password="s3cret")
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    await sip.signals.wait_for("destination_answered", setup.call_id)
    await engine.hangup(setup, Party.ORIGINATOR)
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    await sip.assert_peers_passed()

    sent = authorization_sent(trunk.message_file.read_text(errors="replace"))
    assert sent["algorithm"] == "SHA-256" and sent["realm"] == "trunk.test"
    assert "s" in sent["nonce"]  # the SHA-256 challenge's nonce, not the MD5 one's
    ha1 = sha256("acme:trunk.test:s3cret")
    ha2 = sha256(f"INVITE:{sent['uri']}")
    expected = sha256(f"{ha1}:{sent['nonce']}:{sent['nc']}:{sent['cnonce']}:auth:{ha2}")
    assert sent["response"] == expected
    assert sent["uri"].startswith("sip:+441632960123@127.0.0.1")
