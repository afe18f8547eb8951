"""RFC 4028 session timers against a SIPp trunk: we ask for a timer, refresh it at half the
interval when the peer makes us the refresher (UPDATE when allowed, else a re-INVITE with the
same SDP), and end the call, BYE to both sides, when a refresh fails or the peer stops
refreshing."""

from __future__ import annotations

import pytest

from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.service.ports import StartOutcome
from tests.sip.sip_harness import RECEIVE_BYE, SipHarness, send_bye

pytestmark = pytest.mark.sip

LOST_DESTINATION = CallResult("Success", Party.DESTINATION, Reason.CALL_FAILED)


def answer(status: str, *, sdp: bool = False) -> str:
    body = (
        """Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=trunk 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0"""
        if sdp
        else "Content-Length: 0"
    )
    timer = (
        "Require: timer\n      Session-Expires: 2;refresher=uac\n      "
        if status == "200 OK"
        else ""
    )
    return f"""
    <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>
      {timer}{body}
    ]]>
  </send>
"""


def update_refresh(status: str = "200 OK") -> str:
    return '  <recv request="UPDATE"/>' + answer(status)


def invite_refresh() -> str:
    return (
        '  <recv request="INVITE"/>'
        + answer("200 OK", sdp=True)
        + '  <recv request="ACK" crlf="true"/>\n'
    )


async def call_with_timer(
    sip: SipHarness, *, refresher: str, allow: str, refreshes: str, hangup: str
) -> CallResult:
    agent = await sip.peer("agent_flow1.xml", ACK_RE="o=trunk", HANGUP=RECEIVE_BYE)
    trunk = await sip.peer(
        "trunk_session_timer.xml",
        timeout_s=10,
        ASKED="4",
        EXPIRES="2",
        REFRESHER=refresher,
        ALLOW=allow,
        REFRESHES=refreshes,
        HANGUP=hangup,
    )
    await sip.open_engine(trunk=trunk, session_expires_s=4)
    setup = sip.setup(agent.uri())
    assert await sip.start(setup) is StartOutcome.RINGING
    result = await sip.signals.wait_ended(setup.call_id, within=10)
    await sip.assert_peers_passed()
    return result


async def test_we_refresh_the_session_by_update_at_half_the_interval(sip: SipHarness) -> None:
    result = await call_with_timer(
        sip,
        refresher="uac",
        allow="INVITE, ACK, CANCEL, BYE, UPDATE",
        refreshes=update_refresh() + update_refresh(),  # at ~1 s and ~2 s
        hangup=send_bye(100),
    )
    assert result == CallResult.hung_up(Party.DESTINATION)


@pytest.mark.parametrize("transport", ["udp"])
async def test_a_peer_without_update_is_refreshed_by_re_invite(sip: SipHarness) -> None:
    result = await call_with_timer(
        sip,
        refresher="uac",
        allow="INVITE, ACK, CANCEL, BYE",
        refreshes=invite_refresh(),
        hangup=send_bye(100),
    )
    assert result == CallResult.hung_up(Party.DESTINATION)


@pytest.mark.parametrize("transport", ["udp"])
async def test_a_failed_refresh_ends_the_call_with_bye_to_both(sip: SipHarness) -> None:
    result = await call_with_timer(
        sip,
        refresher="uac",
        allow="INVITE, ACK, CANCEL, BYE, UPDATE",
        refreshes=update_refresh("481 Call/Transaction Does Not Exist"),
        hangup=RECEIVE_BYE,  # and the agent's scenario waits for its BYE too
    )
    assert result == LOST_DESTINATION


@pytest.mark.parametrize("transport", ["udp"])
async def test_a_peer_that_stops_refreshing_is_hung_up_on(sip: SipHarness) -> None:
    # refresher=uas: the trunk should refresh within 2 s; it never does, so the call ends
    # at 2 - min(32, 2/3) s.
    result = await call_with_timer(
        sip, refresher="uas", allow="INVITE, ACK, CANCEL, BYE", refreshes="", hangup=RECEIVE_BYE
    )
    assert result == LOST_DESTINATION
