"""Calls placed by the SIP engine against SIPp peers, over UDP and TCP."""

from __future__ import annotations

import pytest

from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye

pytestmark = pytest.mark.sip


async def test_flow_i_connects_and_the_agent_hangs_up(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=send_bye())
    trunk = await sip.peer("trunk_flow1.xml", OFFER_RE="o=agent", FROM_RE=r"sip:\+441632960001@",
                           ORIGIN="trunk", HANGUP=RECEIVE_BYE)
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())
    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered", "ended"]
    await sip.assert_peers_passed()
