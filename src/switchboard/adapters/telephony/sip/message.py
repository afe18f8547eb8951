"""SIP messages: parsing bytes into requests and responses, and writing them back.

Why our own: the engine must survive any datagram, keep header order and multiple values, and
read URIs such as ``sip:sbc1;lr`` that some parsers reject. Everything that can go wrong with
input raises ``SipParseError`` and nothing else, so the transport can log and drop.

Headers are kept as an ordered list of (canonical name, raw value); compact forms (``v``, ``f``,
``i`` ...) are expanded to their long names on input. A header line holding several
comma-separated values is split only on demand (``values``), outside quotes and angle brackets.

Known holes: no support for ``sips:`` transport (TLS), for header parameters whose values contain
``;`` inside quotes other than in display names, or for multipart bodies (kept as bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 * 1024

COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Long names whose canonical spelling is not plain title case.
_SPECIAL_CASE = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "p-asserted-identity": "P-Asserted-Identity",
    "p-preferred-identity": "P-Preferred-Identity",
    "rack": "RAck",
    "rseq": "RSeq",
}

_DIGITS = re.compile(r"[0-9]+")  # ASCII only, unlike str.isdigit()
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~\-]+$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9]) ?(.*)$")
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9.!%*_+`'~\-]+) (\S+) SIP/2\.0$")


class SipParseError(ValueError):
    """The input is not a SIP message we can use."""


def ascii_number(text: str, *, max_digits: int, what: str) -> int:
    """A decimal number of ASCII digits only, else the parser's own error.

    ``str.isdigit`` is not enough: it accepts superscripts, which ``int`` then refuses with a
    plain ``ValueError``, and other scripts' digits, which ``int`` reads."""
    if len(text) > max_digits or not _DIGITS.fullmatch(text):
        raise SipParseError(f"bad {what} {text[:40]!r}")
    return int(text)


_CANONICAL: dict[str, str] = {}
_CANONICAL_LIMIT = 2048  # names seen in the wild are few; a flood of odd ones is not cached


def canonical_name(name: str) -> str:
    known = _CANONICAL.get(name)
    if known is not None:
        return known
    lowered = name.strip().lower()
    if len(lowered) == 1 and lowered in COMPACT_FORMS:
        canonical = COMPACT_FORMS[lowered]
    else:
        canonical = _SPECIAL_CASE.get(lowered) or "-".join(
            part.capitalize() for part in lowered.split("-")
        )
    if len(_CANONICAL) < _CANONICAL_LIMIT:
        _CANONICAL[name] = canonical
    return canonical


def split_values(value: str) -> list[str]:
    """Split a header value on commas that are outside quotes and angle brackets."""
    if "," not in value:
        return [value.strip()] if value.strip() else []
    if '"' not in value and "<" not in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    parts: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    start = 0
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(value[start:index].strip())
            start = index + 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


@dataclass
class Message:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    # ----------------------------------------------------------------- headers

    def get(self, name: str) -> str | None:
        """The first header line of that name, whole (not split on commas)."""
        wanted = canonical_name(name)
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def q850_cause(self) -> int | None:
        """The Q.850 cause of a ``Reason`` header (RFC 3326: ``Q.850;cause=17``), if any."""
        for value in self.values("Reason"):
            protocol, _, params = value.partition(";")
            if protocol.strip().upper() != "Q.850":
                continue
            for param in params.split(";"):
                name, _, number = param.partition("=")
                number = number.strip()
                # ASCII digits, and few: "²".isdigit() is true and int() refuses it.
                if (
                    name.strip().lower() == "cause"
                    and len(number) <= 3
                    and _DIGITS.fullmatch(number)
                ):
                    cause = int(number)
                    return cause if 0 < cause < 128 else None
        return None

    def lines(self, name: str) -> list[str]:
        wanted = canonical_name(name)
        return [value for key, value in self.headers if key == wanted]

    def values(self, name: str) -> list[str]:
        """Every value of a list header (Via, Route, Contact ...), across lines and commas."""
        found: list[str] = []
        for line in self.lines(name):
            found.extend(split_values(line))
        return found

    def first_value(self, name: str) -> str | None:
        values = self.values(name)
        return values[0] if values else None

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every line of that name with one, where the first one was."""
        wanted = canonical_name(name)
        replaced: list[tuple[str, str]] = []
        done = False
        for key, old in self.headers:
            if key == wanted:
                if not done:
                    replaced.append((key, value))
                    done = True
            else:
                replaced.append((key, old))
        if not done:
            replaced.append((wanted, value))
        self.headers = replaced

    def remove(self, name: str) -> None:
        wanted = canonical_name(name)
        self.headers = [(key, value) for key, value in self.headers if key != wanted]

    # ----------------------------------------------------------------- common fields

    @property
    def call_id(self) -> str:
        value = self.get("Call-ID")
        if not value:
            raise SipParseError("no Call-ID")
        return value.strip()

    @property
    def cseq(self) -> tuple[int, str]:
        value = self.get("CSeq")
        if value is None:
            raise SipParseError("no CSeq")
        parts = value.split()
        if len(parts) != 2:
            raise SipParseError(f"bad CSeq {value[:80]!r}")
        number = ascii_number(parts[0], max_digits=10, what="CSeq")
        if number >= 2**31:
            raise SipParseError(f"CSeq out of range {value!r}")
        return number, parts[1].upper()

    @property
    def content_type(self) -> str:
        value = self.get("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self.start_line()]
        for key, value in self.headers:
            if key != "Content-Length":
                lines.append(f"{key}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8") + self.body


@dataclass
class Request(Message):
    method: str = "OPTIONS"
    uri: str = ""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


# --------------------------------------------------------------------------- parsing


def split_frame(data: bytes) -> tuple[bytes, bytes]:
    """Header section and the rest, at the first empty line (CRLF or bare LF)."""
    index = data.find(b"\r\n\r\n")
    lf_index = data.find(b"\n\n")
    if index < 0 and lf_index < 0:
        raise SipParseError("no end of headers")
    if index < 0 or (0 <= lf_index < index):
        return data[:lf_index], data[lf_index + 2 :]
    return data[:index], data[index + 4 :]


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one whole message. ``stream`` says the body length comes from Content-Length
    alone (TCP); for a datagram a missing Content-Length means the rest of it."""
    head, rest = split_frame(data.lstrip(b"\r\n"))
    if len(head) > MAX_HEADER_BYTES:
        raise SipParseError("header section too large")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("header section is not UTF-8") from exc
    raw_lines = text.replace("\r\n", "\n").split("\n")
    if not raw_lines or not raw_lines[0]:
        raise SipParseError("empty start line")
    first = raw_lines[0].strip()
    headers = _parse_headers(raw_lines[1:])
    message: Request | Response
    status_match = _STATUS_LINE.match(first)
    if status_match:
        message = Response(
            headers=headers, status=int(status_match.group(1)), reason=status_match.group(2)
        )
    else:
        request_match = _REQUEST_LINE.match(first)
        if not request_match:
            raise SipParseError(f"bad start line {first[:80]!r}")
        message = Request(
            headers=headers, method=request_match.group(1).upper(), uri=request_match.group(2)
        )
    message.body = _body(message, rest, stream)
    _check_mandatory(message)
    return message


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            if not headers:
                raise SipParseError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"bad header line {line[:80]!r}")
        headers.append((canonical_name(name), value.strip()))
    return headers


def _body(message: Message, rest: bytes, stream: bool) -> bytes:
    length_text = message.get("Content-Length")
    if length_text is None:
        if stream:
            return b""
        return rest
    length = ascii_number(length_text.strip(), max_digits=9, what="Content-Length")
    if length > len(rest):
        raise SipParseError("body shorter than Content-Length")
    return rest[:length]


def _check_mandatory(message: Request | Response) -> None:
    """What every message needs before a transaction layer can even match it."""
    for name in ("Via", "From", "To"):
        if message.get(name) is None:
            raise SipParseError(f"no {name}")
    _ = message.call_id  # raises when absent
    _, method = message.cseq
    if isinstance(message, Request) and method != message.method:
        raise SipParseError("CSeq method differs from the request method")
