"""Calls placed by the SIP engine against SIPp peers, over UDP and TCP.

Each SIPp scenario checks what it receives (regular expressions on bodies and headers) and
exits non-zero when a check fails, so ``assert_peers_passed`` is part of every test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from switchboard.adapters.telephony.sip.leg import LegState
from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, RINGING, SipHarness, now, send_bye
from tests.support.sipp import SippPeer

pytestmark = pytest.mark.sip

CLID_IN_FROM = r"sip:\+441632960001@"
REJECTED_OFFER = "m=audio 0 "  # the answer an agent gets when its offer can no longer be used


async def flow_i_trunk(sip: SipHarness, hangup: str, ring_ms: int = 100) -> SippPeer:
    return await sip.peer(
        "trunk_flow1.xml",
        ring_ms=ring_ms,
        OFFER_RE="o=agent",
        FROM_RE=CLID_IN_FROM,
        ORIGIN="trunk",
        HANGUP=hangup,
    )


# --------------------------------------------------------------------------- connected calls


async def test_flow_i_connects_and_the_agent_hangs_up(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=send_bye())
    trunk = await flow_i_trunk(sip, RECEIVE_BYE)
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered", "ended"]
    await sip.assert_peers_passed()


async def test_flow_i_connects_and_the_destination_hangs_up(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await flow_i_trunk(sip, send_bye())
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered", "ended"]
    await sip.assert_peers_passed()


async def test_flow_iv_connects_and_the_agent_hangs_up(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow4.xml", HANGUP=send_bye())
    trunk = await sip.peer("trunk_flow4.xml", ORIGIN="trunk", HANGUP=RECEIVE_BYE)
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), destination_timeout_s=60)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered", "ended"]
    await sip.assert_peers_passed()


async def test_flow_iv_connects_and_the_destination_hangs_up(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow4.xml", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("trunk_flow4.xml", ORIGIN="trunk", HANGUP=send_bye())
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), destination_timeout_s=60)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()


async def test_service_hangup_ends_a_connected_call_and_stale_deadlines_do_not(
    sip: SipHarness,
) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await flow_i_trunk(sip, RECEIVE_BYE)
    engine = await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    await sip.signals.wait_for("destination_answered", setup.call_id)
    await engine.on_deadline(setup, "sip:agent_no_answer")  # stale: the agent answered long ago
    await engine.on_deadline(setup, "sip:destination_no_answer")
    await asyncio.sleep(0.1)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered"]
    await engine.hangup(setup, Party.DESTINATION)
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()


async def test_agent_to_agent_call_uses_flow_iv_even_with_a_short_ring(sip: SipHarness) -> None:
    # Both parties are people: flow IV whatever the ring time (RFC 3725 section 5).
    caller = await sip.peer("agent_flow4.xml", HANGUP=RECEIVE_BYE)
    callee = await sip.peer("trunk_flow4.xml", ORIGIN="agent2", HANGUP=send_bye())
    await sip.open_engine()
    setup = sip.setup(caller.uri(), phone=callee.uri("agent2"))

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "destination_answered", "ended"]
    await sip.assert_peers_passed()


async def test_closing_the_engine_hangs_up_calls_and_reports_them_ended(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await flow_i_trunk(sip, RECEIVE_BYE)
    ringing_agent = await sip.peer("agent_held.xml", HANGUP=RECEIVE_BYE)
    ringing_phone = await sip.peer("noanswer.xml")
    engine = await sip.open_engine(trunk=trunk)
    connected = sip.setup(agent.uri())
    assert await sip.start(connected) is StartOutcome.RINGING
    await sip.signals.wait_for("destination_answered", connected.call_id)
    # A second call, to another agent's phone that rings on: it gets a CANCEL.
    unanswered = sip.setup(ringing_agent.uri(), phone=ringing_phone.uri())
    assert await sip.start(unanswered) is StartOutcome.RINGING
    await sip.signals.wait_for("agent_answered", unanswered.call_id)
    # White-box: wait for the destination's 180 (a CANCEL must wait for a provisional), rather
    # than sleeping, so that a loaded machine does not turn this into a different scenario.
    call = engine._calls[unanswered.call_id]
    async with asyncio.timeout(10):  # no event marks a leg's provisional: poll
        while call.destination is None or call.destination.state is not LegState.EARLY:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await engine.close()
    assert sip.signals.results(connected.call_id) == [CallResult.hung_up(Party.ORIGINATOR)]
    assert sip.signals.results(unanswered.call_id) == [
        CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
    ]
    await sip.assert_peers_passed()


# --------------------------------------------------------------------------- the agent's leg


async def test_busy_agent_is_reported_by_start_and_never_as_ended(sip: SipHarness) -> None:
    agent = await sip.peer("reject.xml", PROVISIONAL="", CODE="486", REASON="Busy Here")
    await sip.open_engine()
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.AGENT_BUSY
    await sip.assert_peers_passed()
    assert sip.signals.log == []


async def test_agent_declining_before_ringing_is_unreachable(sip: SipHarness) -> None:
    agent = await sip.peer("reject.xml", PROVISIONAL="", CODE="603", REASON="Decline")
    await sip.open_engine()
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.AGENT_UNREACHABLE
    await sip.assert_peers_passed()
    assert sip.signals.log == []


async def test_agent_declining_while_ringing_ends_the_call_rejected(sip: SipHarness) -> None:
    agent = await sip.peer(
        "reject.xml", ring_ms=200, PROVISIONAL=RINGING, CODE="603", REASON="Decline"
    )
    await sip.open_engine()
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.CALL_REJECTED
    )
    assert sip.signals.kinds(setup.call_id) == ["ended"]
    await sip.assert_peers_passed()


async def test_agent_not_answering_is_cancelled_when_its_deadline_comes(sip: SipHarness) -> None:
    agent = await sip.peer("noanswer.xml")
    await sip.open_engine()
    setup = sip.setup(agent.uri(), agent_timeout_s=1.0)
    started = now()

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NO_ANSWER
    )
    [(due, tag)] = sip.signals.schedules(setup.call_id)
    assert tag == "sip:agent_no_answer"
    assert timedelta(seconds=0.9) < due - started < timedelta(seconds=1.5)
    await sip.assert_peers_passed()


async def test_agent_answer_crossing_our_cancel_is_acknowledged_and_hung_up(
    sip: SipHarness,
) -> None:
    agent = await sip.peer("cancel_race.xml", ACK_RE=REJECTED_OFFER)
    await sip.open_engine()
    setup = sip.setup(agent.uri(), agent_timeout_s=0.5)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NO_ANSWER
    )
    await sip.assert_peers_passed()
    assert sip.signals.kinds(setup.call_id) == ["ended"]


async def test_agent_with_nothing_listening_is_unreachable(sip: SipHarness) -> None:
    engine = await sip.open_engine(start_window_ms=300, timer_b_ms=400)
    setup = sip.setup(sip.peer_uri_nobody_listens())

    assert await sip.start(setup) is StartOutcome.AGENT_UNREACHABLE
    await asyncio.sleep(0.6)  # timer B (UDP) or the refused connection (TCP) ends the leg
    assert engine.calls_in_progress == 0
    assert sip.signals.log == []


async def test_agent_hanging_up_while_the_destination_rings(sip: SipHarness) -> None:
    agent = await sip.peer("agent_held.xml", HANGUP=send_bye(400))
    trunk = await sip.peer("noanswer.xml")
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), destination_timeout_s=60)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NORMAL
    )
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "ended"]
    await sip.assert_peers_passed()


# --------------------------------------------------------------------------- the destination's leg


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        ("486", "Busy Here", Reason.NUMBER_BUSY),
        ("404", "Not Found", Reason.NUMBER_UNOBTAINABLE),
        ("503", "Service Unavailable", Reason.CALL_FAILED),
    ],
)
async def test_destination_failure_rejects_the_agents_offer_and_hangs_up(
    sip: SipHarness, code: str, reason: str, expected: Reason
) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE=REJECTED_OFFER, HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("reject.xml", PROVISIONAL="", CODE=code, REASON=reason)
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, expected
    )
    assert sip.signals.kinds(setup.call_id) == ["agent_answered", "ended"]
    await sip.assert_peers_passed()


async def test_destination_busy_under_flow_iv_hangs_up_the_held_agent(sip: SipHarness) -> None:
    agent = await sip.peer("agent_held.xml", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("reject.xml", PROVISIONAL=RINGING, CODE="486", REASON="Busy Here")
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), destination_timeout_s=60)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, Reason.NUMBER_BUSY
    )
    await sip.assert_peers_passed()


async def test_destination_not_answering_is_cancelled(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE=REJECTED_OFFER, HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("noanswer.xml")
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), destination_timeout_s=1.0)

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, Reason.NO_ANSWER
    )
    assert sip.signals.schedules(setup.call_id)[-1][1] == "sip:destination_no_answer"
    await sip.assert_peers_passed()


async def test_service_hangup_while_the_destination_rings(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE=REJECTED_OFFER, HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("noanswer.xml")
    engine = await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    await sip.signals.wait_for("agent_answered", setup.call_id)
    await asyncio.sleep(0.2)
    await engine.hangup(sip.current(setup.call_id), Party.ORIGINATOR)
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NORMAL
    )
    await sip.assert_peers_passed()


# --------------------------------------------------------------------------- what real networks add


async def test_record_route_is_followed_by_the_ack_and_the_bye(sip: SipHarness) -> None:
    agent = await sip.peer("agent_record_route.xml")
    trunk = await flow_i_trunk(sip, send_bye())
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()


async def test_trunk_digest_challenge_is_answered(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("trunk_auth.xml", USER="acme", PASSWORD="s3cret")
    engine = await sip.open_engine(trunk=trunk, trunk_username="acme", trunk_password="s3cret")
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    await sip.signals.wait_for("destination_answered", setup.call_id)
    await engine.hangup(setup, Party.ORIGINATOR)
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    await sip.assert_peers_passed()


async def test_requests_inside_a_dialog_are_answered(sip: SipHarness) -> None:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer("trunk_refresh.xml")
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri())

    assert await sip.start(setup) is StartOutcome.RINGING
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.DESTINATION)
    await sip.assert_peers_passed()


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["udp"])
async def test_flow_iv_survives_a_ring_far_longer_than_64_t1(sip: SipHarness) -> None:
    """T1 = 50 ms: a phone holding an unacknowledged 2xx (flow I) would give up after 3.2 s.
    Flow IV acknowledges the agent at once, so a 40 s ring is no problem."""
    agent = await sip.peer("agent_flow4.xml", timeout_s=60, HANGUP=send_bye(100))
    trunk = await sip.peer(
        "trunk_flow4.xml", ring_ms=40_000, timeout_s=60, ORIGIN="trunk", HANGUP=RECEIVE_BYE
    )
    await sip.open_engine(trunk=trunk)
    setup = sip.setup(agent.uri(), destination_timeout_s=60)

    assert await sip.start(setup) is StartOutcome.RINGING
    await sip.signals.wait_for("destination_answered", setup.call_id, within=50)
    assert await sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(Party.ORIGINATOR)
    await sip.assert_peers_passed()
