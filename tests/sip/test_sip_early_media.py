"""183 Session Progress with SDP from the trunk, relayed to the flow IV agent as early media (a
re-INVITE under our origin line), without PRACK; the 200 OK's offer follows as the next
version, whether the agent had answered the early one already or not."""

from __future__ import annotations

import pytest

from switchboard.domain.calls import CallResult, Party
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye

pytestmark = pytest.mark.sip

NUMBER = "+441632960999"  # not listed for flow I: flow IV


@pytest.mark.parametrize(
    ("transport", "ring_ms"),
    [("udp", 600), ("tcp", 600), ("udp", 0)],  # 0: the 200 comes while the early one is out
)
async def test_early_media_from_the_trunk_reaches_the_agent(sip: SipHarness, ring_ms: int) -> None:
    agent = await sip.peer("agent_flow4_early.xml", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer(
        "trunk_flow4_early.xml", ring_ms=ring_ms, ORIGIN="trunk", HANGUP=send_bye(300)
    )
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), number=NUMBER)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered", "ended"]
    await sip.assert_peers_passed()
