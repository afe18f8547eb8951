"""Dialog state and how requests inside a dialog are addressed."""

from __future__ import annotations

import pytest

from switchboard.adapters.telephony.sip.dialog import Dialog, target_of
from switchboard.adapters.telephony.sip.message import Request, Response, SipParseError
from switchboard.adapters.telephony.sip.requests import cancel_of
from switchboard.adapters.telephony.sip.transport import Target
from switchboard.adapters.telephony.sip.uri import SipUri


def invite() -> Request:
    request = Request(method="INVITE", uri="sip:agent@phone.example")
    request.add("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa")
    request.add("From", "<sip:sb@192.0.2.1>;tag=ours")
    request.add("To", "<sip:agent@phone.example>")
    request.add("Call-ID", "c1")
    request.add("CSeq", "5 INVITE")
    return request


def answer(record_route: str | None) -> Response:
    response = Response(status=200, reason="OK")
    response.add("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa")
    if record_route:
        response.add("Record-Route", record_route)
    response.add("From", "<sip:sb@192.0.2.1>;tag=ours")
    response.add("To", "<sip:agent@phone.example>;tag=theirs")
    response.add("Call-ID", "c1")
    response.add("CSeq", "5 INVITE")
    response.add("Contact", "<sip:agent@10.9.9.9:5070;transport=tcp>")
    return response


def test_uac_dialog_reverses_record_route_and_targets_the_contact() -> None:
    dialog = Dialog.as_uac(invite(), answer("<sip:p2.example;lr>, <sip:p1.example:5099;lr>"))

    assert dialog.key == ("c1", "ours")
    assert dialog.remote_tag == "theirs"
    assert dialog.route_set == ["<sip:p1.example:5099;lr>", "<sip:p2.example;lr>"]
    assert dialog.next_hop() == Target("udp", "p1.example", 5099)

    bye = dialog.request("BYE")
    assert bye.uri == "sip:agent@10.9.9.9:5070;transport=tcp"
    assert bye.get("Route") == "<sip:p1.example:5099;lr>, <sip:p2.example;lr>"
    assert bye.cseq == (6, "BYE")
    assert bye.get("To") == "<sip:agent@phone.example>;tag=theirs"


def test_ack_of_a_2xx_reuses_the_invite_cseq() -> None:
    dialog = Dialog.as_uac(invite(), answer(None))
    ack = dialog.request("ACK", cseq=5)
    assert ack.cseq == (5, "ACK")
    assert ack.get("Route") is None
    assert dialog.next_hop() == Target("tcp", "10.9.9.9", 5070)
    assert dialog.request("BYE").cseq == (6, "BYE")


def test_strict_router_becomes_the_request_uri() -> None:
    dialog = Dialog.as_uac(invite(), answer("<sip:old.example;transport=udp>"))
    bye = dialog.request("BYE")
    assert bye.uri == "sip:old.example;transport=udp"
    assert bye.get("Route") == "<sip:agent@10.9.9.9:5070;transport=tcp>"


def test_remote_cseq_must_not_go_down_and_target_refreshes() -> None:
    dialog = Dialog.as_uac(invite(), answer(None))
    assert dialog.accepts_remote_cseq(3)
    assert dialog.accepts_remote_cseq(4)
    assert not dialog.accepts_remote_cseq(2)
    reinvite = Request(method="INVITE", uri="sip:sb@192.0.2.1")
    reinvite.add("Contact", "<sip:agent@10.9.9.10>")
    dialog.refresh_target(reinvite)
    assert dialog.next_hop() == Target("udp", "10.9.9.10", 5060)


def test_targets_of_uris() -> None:
    assert target_of(SipUri.parse("sip:x@h;maddr=10.0.0.1;transport=TCP")) == Target(
        "tcp", "10.0.0.1", 5060
    )
    with pytest.raises(SipParseError):
        target_of(SipUri.parse("tel:+441632960123"))
    with pytest.raises(SipParseError):
        target_of(SipUri.parse("sip:x@h;transport=sctp"))


def test_cancel_belongs_to_the_invite_transaction() -> None:
    original = invite()
    original.add("Route", "<sip:proxy.example;lr>")
    original.body = b"v=0\r\n"
    cancel = cancel_of(original)
    assert (cancel.method, cancel.uri) == ("CANCEL", original.uri)
    assert cancel.values("Via") == original.values("Via")[:1]
    assert cancel.get("Route") == "<sip:proxy.example;lr>"
    assert cancel.get("To") == "<sip:agent@phone.example>"  # no tag: never the response's
    assert cancel.cseq == (5, "CANCEL")
    assert cancel.body == b""
