"""No input can break the parser or the listener: anything unusable is the parser's own error,
and after any datagram the engine still answers an OPTIONS with 200."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.endpoint import Endpoint
from switchboard.adapters.telephony.sip.message import SipParseError, parse_message
from switchboard.adapters.telephony.sip.uri import NameAddr, SipUri, Via

VALID = (
    b"INVITE sip:+441632960123@127.0.0.1:5060;transport=udp SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfuzz;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Fuzz" <sip:fuzz@127.0.0.1>;tag=f1\r\n'
    b"To: <sip:+441632960123@127.0.0.1>;tag=t1\r\n"
    b"Call-ID: fuzz@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:fuzz@127.0.0.1:5999>\r\n"
    b"Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\ns=-\r\n"
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid message, cut short, with bytes replaced or inserted."""
    data = bytearray(VALID[: draw(st.integers(0, len(VALID)))])
    for _ in range(draw(st.integers(0, 4))):
        if data and draw(st.booleans()):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        else:
            data[draw(st.integers(0, len(data))) : 0] = draw(st.binary(max_size=8))
    return bytes(data)


_HEADER_LINES = VALID.split(b"\r\n")[1:11]


@st.composite
def odd_values(draw: st.DrawFn) -> bytes:
    """A valid message with one header's value (or the start line's URI) replaced by any
    Unicode text or an oversized value: digits of other scripts, superscripts, huge numbers."""
    text = VALID.decode()
    lines = text.split("\r\n")
    index = draw(st.integers(1, 10))
    name = lines[index].split(":", 1)[0]
    value = draw(
        st.one_of(
            st.text(max_size=60),
            st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=12),
            st.integers(min_value=-(10**30), max_value=10**30).map(str),
            st.text(alphabet="0123456789", min_size=10, max_size=400),
        )
    )
    if draw(st.booleans()):
        lines[index] = f"{name}: {value}"
    else:  # a number in front of the method, where CSeq and Content-Length want them
        lines[index] = f"{name}: {value} {lines[index].split(':', 1)[1].strip()}"
    return "\r\n".join(lines).encode("utf-8", errors="surrogatepass")


def exercise(data: bytes) -> None:
    """Parse, then read every address the engine would read."""
    message = parse_message(data)
    for value in message.values("Via"):
        Via.parse(value)
    for name in ("From", "To", "Contact"):
        value = message.get(name)
        if value:
            NameAddr.parse(value)
    for value in message.values("Record-Route"):
        NameAddr.parse(value)
    if hasattr(message, "uri"):
        SipUri.parse(message.uri)


@FUZZ
@given(st.one_of(st.binary(max_size=2048), damaged(), odd_values()))
def test_parser_raises_nothing_but_its_own_error(data: bytes) -> None:
    try:
        exercise(data)
    except SipParseError:
        pass


@FUZZ
@given(st.text(max_size=300))
def test_address_parsers_raise_nothing_but_the_parse_error(text: str) -> None:
    for parse in (SipUri.parse, NameAddr.parse, Via.parse):
        try:
            parse(text)
        except SipParseError:
            pass


class BackgroundEndpoint:
    """An endpoint on its own event loop thread, so hypothesis can drive it synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.endpoint = Endpoint(SipConfig(bind_host="127.0.0.1", bind_port=0, t1_ms=50))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> BackgroundEndpoint:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.endpoint.open(), self.loop).result(5)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.endpoint.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[BackgroundEndpoint, ErrorLog]]:
    errors = ErrorLog()
    package = logging.getLogger("switchboard.adapters.telephony.sip")
    package.addHandler(errors)
    try:
        with BackgroundEndpoint() as background:
            yield background, errors
    finally:
        package.removeHandler(errors)


_counter = iter(range(10**9))


def options_answered(port: int) -> bool:
    branch = f"z9hG4bKprobe{next(_counter)}"
    probe = (
        VALID.replace(b"INVITE sip:", b"OPTIONS sip:")
        .replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS")
        .replace(b"z9hG4bKfuzz", branch.encode())
        .replace(b";tag=t1", b"")
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(probe, ("127.0.0.1", port))
        while True:
            data, _ = sock.recvfrom(65535)
            if branch.encode() in data:
                return data.startswith(b"SIP/2.0 200 ")


@FUZZ
@given(
    garbage=st.lists(
        st.one_of(st.binary(max_size=1500), damaged(), odd_values()), min_size=1, max_size=3
    )
)
def test_udp_listener_survives_any_datagram(
    listener: tuple[BackgroundEndpoint, ErrorLog], garbage: list[bytes]
) -> None:
    background, errors = listener
    port = background.endpoint.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in garbage:
            sock.sendto(data, ("127.0.0.1", port))
    assert options_answered(port)
    assert errors.records == []


def options_answered_over_tcp(port: int) -> bool:
    branch = f"z9hG4bKprobe{next(_counter)}"
    probe = (
        VALID.replace(b"INVITE sip:", b"OPTIONS sip:")
        .replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS")
        .replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
        .replace(b"z9hG4bKfuzz", branch.encode())
        .replace(b";tag=t1", b"")
    )
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.sendall(probe)
        received = b""
        while branch.encode() not in received:
            chunk = sock.recv(65535)
            if not chunk:
                return False
            received += chunk
        return received.startswith(b"SIP/2.0 200 ")


@FUZZ
@given(
    garbage=st.lists(
        st.one_of(st.binary(max_size=1500), damaged(), odd_values()), min_size=1, max_size=3
    )
)
def test_tcp_listener_survives_any_stream(
    listener: tuple[BackgroundEndpoint, ErrorLog], garbage: list[bytes]
) -> None:
    background, errors = listener
    port = background.endpoint.port
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        for data in garbage:
            try:
                sock.sendall(data)
            except OSError:
                break  # the listener closed a connection it could not frame: allowed
    assert options_answered_over_tcp(port)
    assert errors.records == []


def test_a_non_ascii_cseq_is_dropped_over_udp_and_tcp_without_an_error(
    listener: tuple[BackgroundEndpoint, ErrorLog],
) -> None:
    background, errors = listener
    port = background.endpoint.port
    bad = (
        VALID.replace(b"INVITE sip:", b"OPTIONS sip:")
        .replace(b"CSeq: 1 INVITE", "CSeq: \u00b2 OPTIONS".encode())
        .replace(b";tag=t1", b"")
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(bad, ("127.0.0.1", port))
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.sendall(bad.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        # The same connection still carries the next message: it was not torn down.
        sock.sendall(
            VALID.replace(b"INVITE sip:", b"OPTIONS sip:")
            .replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS")
            .replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
            .replace(b";tag=t1", b"")
        )
        assert sock.recv(65535).startswith(b"SIP/2.0 200 ")
    assert options_answered(port)
    assert errors.records == []


def test_an_empty_via_is_dropped_over_tcp_without_an_error(
    listener: tuple[BackgroundEndpoint, ErrorLog],
) -> None:
    """Found by the stream fuzz: ``Via: ,`` split to no value and raised IndexError."""
    background, errors = listener
    port = background.endpoint.port
    empty_via = re.sub(
        rb"Via: [^\r]*", b"Via: ,", VALID.replace(b"INVITE sip:", b"OPTIONS sip:")
    ).replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS")
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.sendall(empty_via)
    assert options_answered_over_tcp(port)
    assert errors.records == []
