"""The SDP the controller writes itself."""

from __future__ import annotations

from switchboard.adapters.telephony.sip import sdp

OFFER = (
    b"v=0\r\no=agent 7 7 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 8 0\r\nm=video 4002 RTP/AVP 96\r\n"
)


def test_held_offer_is_what_real_phones_accept_before_media_is_known() -> None:
    origin = sdp.Origin("192.0.2.10", session_id=42)
    text = sdp.held_offer(origin).decode()
    assert "o=ctl 42 1 IN IP4 192.0.2.10\r\n" in text
    assert "c=IN IP4 0.0.0.0\r\n" in text
    assert "m=audio 9 RTP/AVP 0 8 101\r\n" in text
    assert text.endswith("a=inactive\r\n")


def test_reject_all_answers_every_stream_with_port_zero() -> None:
    answer = sdp.reject_all(OFFER, sdp.Origin("192.0.2.10")).decode()
    assert "m=audio 0 RTP/AVP 8\r\n" in answer
    assert "m=video 0 RTP/AVP 96\r\n" in answer
    assert not sdp.has_media(b"v=0\r\n")


def test_relayed_description_takes_our_origin_with_the_next_version() -> None:
    origin = sdp.Origin("192.0.2.10", session_id=42)
    sdp.held_offer(origin)
    relayed = sdp.with_origin(OFFER, origin).decode()
    assert "o=ctl 42 2 IN IP4 192.0.2.10\r\n" in relayed
    assert "o=agent" not in relayed
    assert "m=audio 4000 RTP/AVP 8 0\r\n" in relayed
