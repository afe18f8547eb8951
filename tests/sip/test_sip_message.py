"""Parsing and writing SIP messages and the addresses inside them."""

from __future__ import annotations

import pytest

from switchboard.adapters.telephony.sip.message import (
    Request,
    Response,
    SipParseError,
    parse_message,
    split_values,
)
from switchboard.adapters.telephony.sip.uri import NameAddr, SipUri, Via

INVITE = (
    b"INVITE sip:+441632960123@trunk.example;transport=tcp SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport,"
    b" SIP/2.0/TCP proxy.example;branch=z9hG4bK2\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK3\r\n"
    b'f: "Smith, John" <sip:+441632960001@example.com>;tag=abc\r\n'
    b"t: <sip:+441632960123@trunk.example>\r\n"
    b"i: call-1@example.com\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Subject: a header that is\r\n"
    b"  folded over two lines\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nextra bytes past Content-Length"
)


def test_request_line_compact_forms_folding_and_body() -> None:
    message = parse_message(INVITE)

    assert isinstance(message, Request)
    assert message.method == "INVITE"
    assert message.uri == "sip:+441632960123@trunk.example;transport=tcp"
    assert message.call_id == "call-1@example.com"
    assert message.cseq == (7, "INVITE")
    assert message.get("subject") == "a header that is folded over two lines"
    assert message.content_type == "application/sdp"
    assert message.body == b"v=0\r"


def test_list_headers_are_split_across_lines_and_commas_but_not_inside_quotes() -> None:
    message = parse_message(INVITE)

    assert [Via.parse(v).branch for v in message.values("Via")] == [
        "z9hG4bK1",
        "z9hG4bK2",
        "z9hG4bK3",
    ]
    assert NameAddr.parse(message.get("From") or "").display == '"Smith, John"'
    assert split_values('"a, b" <sip:x@y>, <sip:z@w;lr>') == ['"a, b" <sip:x@y>', "<sip:z@w;lr>"]


def test_response_round_trip_recomputes_content_length() -> None:
    response = parse_message(
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(response, Response)
    response.body = b"hello"

    again = parse_message(response.to_bytes())

    assert isinstance(again, Response)
    assert (again.status, again.reason, again.body) == (180, "Ringing", b"hello")
    assert again.lines("Content-Length") == ["5"]


def test_a_datagram_without_content_length_keeps_the_rest_as_body() -> None:
    message = parse_message(
        b"OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\n"
        b"To: <sip:c@d>\nCall-ID: x\nCSeq: 1 OPTIONS\n\nbody"
    )
    assert message.body == b"body"
    stream = parse_message(
        b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1"
        b"\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\nbody",
        stream=True,
    )
    assert stream.body == b""


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"HELLO WORLD\r\n\r\n",
        b"INVITE sip:x@y SIP/3.0\r\n\r\n",
        b"SIP/2.0 99 Too Low\r\n\r\n",
        INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: seven INVITE"),
        INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"),
        INVITE.replace(b"i: call-1@example.com\r\n", b""),
        INVITE.replace(b"l: 4", b"l: 400"),
        INVITE.replace(b"l: 4", b"l: -4"),
        INVITE.replace(b"Subject:", b"Sub ject:"),
        b"INVITE sip:x@y SIP/2.0\r\n folded first\r\n\r\n",
        b"INVITE sip:x@y SIP/2.0\r\nVia: \xff\xfe\r\n\r\n",
    ],
)
def test_unusable_input_raises_the_parse_error_only(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


def test_set_and_remove_keep_header_order() -> None:
    request = Request(method="BYE", uri="sip:a@b")
    request.add("Via", "one")
    request.add("Route", "r1")
    request.add("Route", "r2")
    request.add("To", "t")
    request.set("route", "r")
    assert request.headers == [("Via", "one"), ("Route", "r"), ("To", "t")]
    request.remove("ROUTE")
    assert request.headers == [("Via", "one"), ("To", "t")]


# --------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("text", "user", "host", "port", "params"),
    [
        ("sip:sbc1;lr", None, "sbc1", None, {"lr": None}),
        (
            "sip:+441632960123@10.0.0.1:5080;transport=TCP",
            "+441632960123",
            "10.0.0.1",
            5080,
            {"transport": "TCP"},
        ),
        (
            "SIP:alice@[2001:db8::1]:5070;maddr=10.1.1.1;lr",
            "alice",
            "[2001:db8::1]",
            5070,
            {"maddr": "10.1.1.1", "lr": None},
        ),
        ("sips:bob@example.com", "bob", "example.com", None, {}),
    ],
)
def test_sip_uris(
    text: str, user: str | None, host: str, port: int | None, params: dict[str, str | None]
) -> None:
    uri = SipUri.parse(text)
    assert (uri.user, uri.host, uri.port, uri.params) == (user, host, port, params)
    assert SipUri.parse(str(uri)) == uri


def test_uri_with_password_headers_and_transport() -> None:
    uri = SipUri.parse("sip:alice:secret@host;transport=TCP?subject=hi")
    assert (uri.password, uri.headers, uri.transport) == ("secret", "subject=hi", "tcp")
    assert str(uri) == "sip:alice:secret@host;transport=TCP?subject=hi"


def test_tel_uri() -> None:
    uri = SipUri.parse("tel:+441632960123;phone-context=example.com")
    assert (uri.scheme, uri.host, uri.params) == (
        "tel",
        "+441632960123",
        {"phone-context": "example.com"},
    )


@pytest.mark.parametrize(
    "text",
    [
        "http://example.com",
        "sip:",
        "sip:@host",
        "sip:host:99999",
        "sip:host:port",
        "sip:[::1",
        "sip:ho st",
        "sip:a@b;=x",
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_name_addr_forms() -> None:
    quoted = NameAddr.parse('"Agent <1>" <sip:a@b;lr>;tag=9;expires=60')
    assert quoted.display == '"Agent <1>"'
    assert quoted.uri.params == {"lr": None}
    assert quoted.params == {"tag": "9", "expires": "60"}
    assert quoted.tag == "9"

    bare = NameAddr.parse("sip:a@b;tag=x")
    assert bare.uri.params == {}
    assert bare.tag == "x"
    assert str(bare) == "<sip:a@b>;tag=x"

    with pytest.raises(SipParseError):
        NameAddr.parse("<sip:a@b")
    with pytest.raises(SipParseError):
        NameAddr.parse("<sip:a@b> junk")


def test_via() -> None:
    via = Via.parse("SIP/2.0/udp 192.0.2.1:5062;branch=z9hG4bKabc;rport;received=10.0.0.1")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.0.2.1",
        5062,
        "z9hG4bKabc",
    )
    assert via.params["rport"] is None
    assert via.sent_by == "192.0.2.1:5062"
    assert str(via) == "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKabc;rport;received=10.0.0.1"
    with pytest.raises(SipParseError):
        Via.parse("SIP/2.0 host")


@pytest.mark.parametrize(
    "header",
    [
        "CSeq: \u00b2 OPTIONS",  # superscript two: isdigit() is true, int() refuses it
        "CSeq: \u0661 OPTIONS",  # Arabic-Indic one: isdigit() is true and int() reads it
        "CSeq: \uff11 OPTIONS",  # fullwidth one
        "Content-Length: \u00b2",
        "Content-Length: \u0660",
        "CSeq: +1 OPTIONS",
        "CSeq: 1_0 OPTIONS",
    ],
)
def test_numbers_in_headers_are_ascii_digits_only(header: str) -> None:
    message = (
        "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKd\r\n"
        "From: <sip:b@127.0.0.1>;tag=1\r\n"
        "To: <sip:a@127.0.0.1>\r\n"
        "Call-ID: digits@127.0.0.1\r\n"
        + ("CSeq: 1 OPTIONS\r\n" if header.startswith("Content-Length") else "")
        + header
        + "\r\n\r\n"
    )
    with pytest.raises(SipParseError):
        parse_message(message.encode("utf-8"))


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ('Q.850;cause=17;text="User busy"', 17),
        ("q.850 ; cause = 16", 16),
        ("SIP;cause=486, Q.850;cause=17", 17),
        ("Q.850;cause=\u00b2", None),  # isdigit() is true: int() would raise
        ("Q.850;cause=\u0661\u0667", None),  # Arabic-Indic digits: not ours to read
        ("Q.850;cause=" + "1" * 5000, None),  # past int()'s limit on digits
        ("Q.850;cause=0", None),
        ("Q.850;cause=200", None),
    ],
)
def test_a_q850_cause_is_read_from_ascii_digits_only(reason: str, cause: int | None) -> None:
    message = (
        "SIP/2.0 486 Busy Here\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKd\r\n"
        "From: <sip:b@127.0.0.1>;tag=1\r\n"
        "To: <sip:a@127.0.0.1>;tag=2\r\n"
        "Call-ID: cause@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Reason: {reason}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    response = parse_message(message.encode("utf-8"))
    assert isinstance(response, Response)
    assert response.q850_cause() == cause
