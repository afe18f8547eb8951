"""Interop with real peers from Debian: baresip as the agents' phones (and as the far end of
the trunk), kamailio as a record-routing proxy between Switchboard and the trunk, over UDP and
TCP.

Each test drives the phones as people would (answer, decline, let it ring, hang up) over
baresip's ``ctrl_tcp`` and checks three things: the result the engine reports, what each
phone saw (its call closed), and, for connected calls, that the RTP address each phone applied
from the SDP it ended with is the other phone's and that RTP arrived at both (baresip's
``CALL_RTPESTAB``). Every wait is bounded; a missing binary skips the module, saying which.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import DEFAULT_NUMBER, RECEIVE_BYE, SipHarness
from tests.support.baresip import BaresipPhone, baresip_available, media_address
from tests.support.kamailio import KamailioProxy, kamailio_available
from tests.support.sipp import free_port, sipp_available

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(
        not baresip_available(), reason="baresip not found: install the Debian package baresip-core"
    ),
    pytest.mark.skipif(
        not kamailio_available(), reason="kamailio not found: install the Debian package kamailio"
    ),
]


class Interop:
    """An engine, the phones it calls and the proxy in front of the trunk; all stopped after."""

    def __init__(self, workdir: Path, transport: str) -> None:
        self.workdir = workdir
        self.transport = transport
        self.sip = SipHarness(workdir, transport)
        self.phones: list[BaresipPhone] = []
        self.proxy: KamailioProxy | None = None

    async def phone(self, user: str) -> BaresipPhone:
        phone = BaresipPhone(self.workdir, user, transport=self.transport)
        self.phones.append(phone)  # before start: a phone that half-started is stopped too
        await phone.start()
        return phone

    async def trunk_behind_proxy(
        self, *, answering: bool = True, **engine: object
    ) -> BaresipPhone | None:
        """The trunk (a phone whose user is the number), behind kamailio; ``answering=False``
        leaves the trunk's address with nobody listening."""
        self.proxy = KamailioProxy(self.workdir)
        await self.proxy.start()
        trunk = await self.phone(DEFAULT_NUMBER) if answering else None
        await self.sip.open_engine(
            trunk_host="127.0.0.1",
            trunk_port=trunk.port if trunk else free_port(),
            trunk_proxy=self.proxy.uri(self.transport),
            **{"flow_i_numbers": (), **engine},
        )
        return trunk

    async def aclose(self) -> None:
        await self.sip.aclose()
        for phone in self.phones:
            await phone.stop()
        if self.proxy is not None:
            await self.proxy.stop()

    async def assert_nothing_left(self, within: float = 5.0) -> None:
        """The call is gone from the engine once its legs' last transactions completed."""
        engine = self.sip.engine
        assert engine is not None
        async with asyncio.timeout(within):
            while engine.calls_in_progress:  # noqa: ASYNC110 - no event marks a leg's end
                await asyncio.sleep(0.02)


@pytest.fixture(params=["udp", "tcp"])
async def interop(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Interop]:
    world = Interop(tmp_path, str(request.param))
    try:
        yield world
    finally:
        await world.aclose()


async def assert_media_joined(one: BaresipPhone, other: BaresipPhone) -> None:
    """The SDP each phone ended with (the last it received) points at where the other said
    it takes RTP (the last it sent), and RTP reached both."""
    await one.wait_event("CALL_RTPESTAB")
    await other.wait_event("CALL_RTPESTAB")
    for phone, peer in ((one, other), (other, one)):
        applied = media_address(phone.last_sdp(sent=False))
        offered = media_address(peer.last_sdp(sent=True))
        assert applied is not None and applied == offered, (phone.user, applied, offered)
        assert applied[0] == "127.0.0.1" and applied[1] != 0


def direction(sdp: list[str]) -> str:
    found = [line[2:] for line in sdp if line[2:] in ("sendrecv", "sendonly", "recvonly")]
    return found[-1] if found else "sendrecv"


async def answer(phone: BaresipPhone) -> None:
    await phone.wait_event("CALL_INCOMING")
    await phone.accept()


# --------------------------------------------------------------------------- connected calls


async def test_flow_iv_through_the_proxy_joins_media_and_the_agent_hangs_up(
    interop: Interop,
) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None and interop.proxy is not None
    setup = interop.sip.setup(agent.uri(), destination_timeout_s=10)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)
    await interop.sip.signals.wait_for("destination_answered", setup.call_id)
    await assert_media_joined(agent, trunk)
    await agent.hangup()

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.ORIGINATOR
    )
    await trunk.wait_event("CALL_CLOSED")
    # The ACK and BYE to the trunk followed kamailio's Record-Route.
    assert interop.proxy.relayed("INVITE") == 1
    assert interop.proxy.relayed("ACK") == 1
    assert interop.proxy.relayed("BYE") == 1
    await interop.assert_nothing_left()


async def test_flow_iv_through_the_proxy_and_the_destination_hangs_up(interop: Interop) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None
    setup = interop.sip.setup(agent.uri(), destination_timeout_s=60)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)
    await assert_media_joined(agent, trunk)
    await trunk.hangup()

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.DESTINATION
    )
    await agent.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left()


async def test_flow_i_for_a_listed_number_through_the_proxy(interop: Interop) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy(flow_i_numbers=(DEFAULT_NUMBER,))
    assert trunk is not None
    setup = interop.sip.setup(agent.uri(), destination_timeout_s=10)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)
    await assert_media_joined(agent, trunk)
    await trunk.hangup()

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.DESTINATION
    )
    await agent.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left()


async def test_agent_to_agent_joins_media_and_the_caller_hangs_up(interop: Interop) -> None:
    caller = await interop.phone("ann")
    callee = await interop.phone("bob")
    await interop.sip.open_engine(trunk_host=None)
    setup = interop.sip.setup(caller.uri(), phone=callee.uri(), destination_timeout_s=10)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(caller)
    await answer(callee)
    await assert_media_joined(caller, callee)
    await caller.hangup()

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.ORIGINATOR
    )
    await callee.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left()


async def test_hold_and_resume_are_relayed_to_the_other_party(interop: Interop) -> None:
    """Issue 8: a re-INVITE from the agent's phone (hold: a=sendonly) goes to the other party
    as a re-INVITE, and its answer (a=recvonly) comes back; resuming likewise."""
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None
    setup = interop.sip.setup(agent.uri())
    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)
    await assert_media_joined(agent, trunk)
    offers = len([e for e in trunk.events if e.get("type") == "CALL_REMOTE_SDP"])

    await agent.command("hold")
    await trunk.wait_event("CALL_REMOTE_SDP", count=offers + 1)
    await agent.wait_event("CALL_REMOTE_SDP", count=3)  # held offer, joining, hold answer
    assert direction(trunk.last_sdp(sent=False)) == "sendonly"
    assert direction(agent.last_sdp(sent=False)) == "recvonly"

    await agent.command("resume")
    await trunk.wait_event("CALL_REMOTE_SDP", count=offers + 2)
    await agent.wait_event("CALL_REMOTE_SDP", count=4)
    assert direction(trunk.last_sdp(sent=False)) == "sendrecv"
    assert direction(agent.last_sdp(sent=False)) == "sendrecv"
    await assert_media_joined(agent, trunk)

    await trunk.hangup()
    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.DESTINATION
    )
    await interop.assert_nothing_left()


GLARE_THEN_HOLD = (
    """
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 491 Request Pending
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="a=sendonly" search_in="body" check_it="true" assign_to="held"/>
    </action>
  </recv>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=trunk 1 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 8
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=recvonly
    ]]>
  </send>
  <recv request="ACK"/>
  <Reference variables="held"/>
"""
    + RECEIVE_BYE
)


async def test_a_relayed_offer_that_meets_glare_is_retried(interop: Interop) -> None:
    """RFC 3261 14.1: the trunk answers our relayed re-INVITE with 491; we own the Call-ID,
    so we try again 2.1-4 s later, and the agent's hold completes."""
    if not sipp_available():
        pytest.skip("sipp not found: install the Debian package sip-tester")
    agent = await interop.phone("ann")
    trunk = await interop.sip.peer(
        "trunk_flow4.xml", ORIGIN="trunk", HANGUP=GLARE_THEN_HOLD, ANSWER_RE="m=audio [1-9]"
    )
    await interop.sip.open_engine(trunk=trunk, flow_i_numbers=())
    setup = interop.sip.setup(agent.uri())
    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await interop.sip.signals.wait_for("destination_answered", setup.call_id)

    await agent.command("hold")
    await agent.wait_event("CALL_REMOTE_SDP", count=3, within=15)
    assert direction(agent.last_sdp(sent=False)) == "recvonly"
    await agent.hangup()
    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.ORIGINATOR
    )
    await interop.sip.assert_peers_passed()


# --------------------------------------------------------------------------- calls that end


async def test_a_phone_that_vanishes_ends_the_call_and_the_other_party_gets_a_bye(
    interop: Interop,
) -> None:
    """Issue 8: no keep-alive meant a lost BYE left the call active for ever. The agent's
    phone dies without a word; the next in-dialog OPTIONS goes unanswered (UDP: timer F,
    3.2 s with T1 = 50 ms; TCP: the connection is refused), the trunk gets a BYE and the
    result says the call failed on the agent's side."""
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy(keepalive_s=0.3)
    assert trunk is not None
    setup = interop.sip.setup(agent.uri())
    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)
    await interop.sip.signals.wait_for("destination_answered", setup.call_id)

    await agent.kill()
    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult(
        "Success", Party.ORIGINATOR, Reason.CALL_FAILED
    )
    await trunk.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left(within=10)


async def test_a_call_longer_than_the_maximum_is_hung_up_on_both_sides(
    interop: Interop,
) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy(max_call_s=1.0)
    assert trunk is not None
    setup = interop.sip.setup(agent.uri())
    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.hung_up(
        Party.ORIGINATOR
    )
    assert "destination_answered" in interop.sip.signals.kinds(setup.call_id)
    await agent.wait_event("CALL_CLOSED")
    await trunk.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left()


# --------------------------------------------------------------------------- calls that fail


async def test_agent_hanging_up_while_the_number_rings_ends_the_call(interop: Interop) -> None:
    """Issue 8, item 1: with flow I the phone could not send BYE before its 200 was ACKed;
    with flow IV it is ACKed at once, so the hang-up ends the call and the number is
    CANCELled through the proxy."""
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None and interop.proxy is not None
    setup = interop.sip.setup(agent.uri(), destination_timeout_s=10)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await trunk.wait_event("CALL_INCOMING")
    await agent.wait_event("CALL_ESTABLISHED")
    await agent.hangup()

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NORMAL
    )
    await trunk.wait_event("CALL_CLOSED")
    assert "destination_answered" not in interop.sip.signals.kinds(setup.call_id)
    assert interop.proxy.relayed("CANCEL") == 1
    await interop.assert_nothing_left()


async def test_agent_declining_ends_the_call_before_the_number_is_dialled(
    interop: Interop,
) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None and interop.proxy is not None
    setup = interop.sip.setup(agent.uri())

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await agent.wait_event("CALL_INCOMING")
    await agent.hangup()  # baresip declines a ringing call

    result = await interop.sip.signals.wait_ended(setup.call_id)
    assert (result.code, result.party) == ("Failure", Party.ORIGINATOR)
    assert interop.sip.signals.kinds(setup.call_id) == ["ended"]
    assert interop.proxy.relayed("INVITE") == 0
    await interop.assert_nothing_left()


async def test_agent_not_answering_is_cancelled_as_no_answer(interop: Interop) -> None:
    agent = await interop.phone("ann")
    await interop.trunk_behind_proxy()
    setup = interop.sip.setup(agent.uri(), agent_timeout_s=1.0)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.ORIGINATOR, Reason.NO_ANSWER
    )
    await agent.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left()


async def test_destination_declining_through_the_proxy_is_busy(interop: Interop) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None
    setup = interop.sip.setup(agent.uri())

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    await trunk.wait_event("CALL_INCOMING")
    await trunk.hangup()

    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, Reason.NUMBER_BUSY
    )
    await agent.wait_event("CALL_CLOSED")  # the held agent got a BYE
    await interop.assert_nothing_left()


async def test_destination_not_answering_is_cancelled_through_the_proxy(
    interop: Interop,
) -> None:
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None and interop.proxy is not None
    setup = interop.sip.setup(agent.uri(), destination_timeout_s=1.0)

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    assert await interop.sip.signals.wait_ended(setup.call_id) == CallResult.failure(
        Party.DESTINATION, Reason.NO_ANSWER
    )
    await trunk.wait_event("CALL_CLOSED")
    await agent.wait_event("CALL_CLOSED")
    assert interop.proxy.relayed("CANCEL") == 1
    await interop.assert_nothing_left()


async def test_an_unreachable_trunk_behind_the_proxy_fails_the_call(interop: Interop) -> None:
    agent = await interop.phone("ann")
    await interop.trunk_behind_proxy(answering=False)
    setup = interop.sip.setup(agent.uri())

    assert await interop.sip.start(setup) is StartOutcome.RINGING
    await answer(agent)
    result = await interop.sip.signals.wait_ended(setup.call_id)
    # kamailio answers for the trunk: 408 after its timer over UDP, 477/503 over TCP.
    assert (result.code, result.party) == ("Failure", Party.DESTINATION)
    assert result.reason in (Reason.NO_ANSWER, Reason.CALL_FAILED)
    await agent.wait_event("CALL_CLOSED")
    await interop.assert_nothing_left()


# --------------------------------------------------------------------------- bounded state


async def test_every_map_is_empty_again_after_a_mixed_run(interop: Interop) -> None:
    """Calls that connect, are declined, go unanswered and fail at the destination, one
    after another on one engine: once each has ended and 64*T1 has passed (the time a
    dialog keeps answering retransmissions), nothing of them is left."""
    agent = await interop.phone("ann")
    trunk = await interop.trunk_behind_proxy()
    assert trunk is not None and interop.sip.engine is not None
    signals = interop.sip.signals

    connected = interop.sip.setup(agent.uri())
    assert await interop.sip.start(connected) is StartOutcome.RINGING
    await answer(agent)
    await answer(trunk)
    await signals.wait_for("destination_answered", connected.call_id)
    await trunk.hangup()
    await signals.wait_ended(connected.call_id)

    declined = interop.sip.setup(agent.uri())
    assert await interop.sip.start(declined) is StartOutcome.RINGING
    await agent.wait_event("CALL_INCOMING", count=2)
    await agent.hangup()
    await signals.wait_ended(declined.call_id)

    busy = interop.sip.setup(agent.uri())
    assert await interop.sip.start(busy) is StartOutcome.RINGING
    await agent.wait_event("CALL_INCOMING", count=3)
    await agent.accept()
    await trunk.wait_event("CALL_INCOMING", count=2)
    await trunk.hangup()
    await signals.wait_ended(busy.call_id)

    unanswered = interop.sip.setup(agent.uri(), agent_timeout_s=0.5)
    assert await interop.sip.start(unanswered) is StartOutcome.RINGING
    await signals.wait_ended(unanswered.call_id)

    engine = interop.sip.engine
    async with asyncio.timeout(10):
        while any(engine.sizes().values()):  # noqa: ASYNC110 - timers, not events, empty them
            await asyncio.sleep(0.1)
    assert engine.sizes() == dict.fromkeys(engine.sizes(), 0)
