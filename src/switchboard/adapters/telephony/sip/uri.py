"""Addresses inside SIP headers: URIs, name-addrs (From, To, Contact, Route) and Via values.

Parameters keep their order and case of value; names are compared in lower case. A parameter
without a value (``lr``, ``rport``) maps to ``None``. Everything raises ``SipParseError`` on
bad input so a caller can drop the message it came in.

Known holes: URI escaping is kept as received (no percent-decoding), and ``tel:`` URIs are only
split into the number and its parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from switchboard.adapters.telephony.sip.message import SipParseError

_PORT = re.compile(r"^[0-9]{1,5}$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)$")


def parse_params(text: str) -> dict[str, str | None]:
    """``;a=1;lr`` (leading semicolon optional) into an ordered dict."""
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not name:
            raise SipParseError(f"empty parameter name in {text[:80]!r}")
        params[name] = value.strip() if equals else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params.items()
    )


@dataclass
class SipUri:
    scheme: str  # "sip", "sips" or "tel"
    host: str  # for tel: the number
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None  # the raw "?..." part, without the question mark

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips", "tel") or not rest:
            raise SipParseError(f"not a SIP URI {text[:80]!r}")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            if not number:
                raise SipParseError("empty tel number")
            return cls(scheme, number, params=parse_params(params))
        rest, question, headers = rest.partition("?")
        userinfo, at, hostpart = rest.rpartition("@")
        user = password = None
        if at:
            if not userinfo:
                raise SipParseError("empty user part")
            user, _, pw = userinfo.partition(":")
            password = pw or None
        hostport, _, params = hostpart.partition(";")
        host, port = _split_hostport(hostport)
        return cls(
            scheme, host, user, password, port, parse_params(params), headers if question else None
        )

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.host}{format_params(self.params)}"
        text = f"{self.scheme}:"
        if self.user is not None:
            text += self.user
            if self.password is not None:
                text += f":{self.password}"
            text += "@"
        text += self.host
        if self.port is not None:
            text += f":{self.port}"
        text += format_params(self.params)
        if self.headers is not None:
            text += f"?{self.headers}"
        return text

    @property
    def transport(self) -> str:
        value = self.params.get("transport")
        return (value or "udp").lower()


def _split_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"bad IPv6 reference {text[:80]!r}")
        host, tail = text[: end + 1], text[end + 1 :]
        if tail and not tail.startswith(":"):
            raise SipParseError(f"bad host {text[:80]!r}")
        port_text = tail[1:] if tail else ""
    else:
        host, _, port_text = text.partition(":")
    if not host or not _HOST.match(host):
        raise SipParseError(f"bad host {text[:80]!r}")
    if not port_text:
        return host, None
    if not _PORT.match(port_text) or not 0 < int(port_text) < 65536:
        raise SipParseError(f"bad port {text[:80]!r}")
    return host, int(port_text)


@dataclass
class NameAddr:
    """``"Display" <uri>;tag=x`` or the bare ``uri;tag=x`` (whose parameters are the header's)."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        display: str | None = None
        if "<" in text:
            start = _angle_start(text)
            end = text.find(">", start)
            if end < 0:
                raise SipParseError(f"unclosed angle bracket {text[:80]!r}")
            display = text[:start].strip() or None
            uri_text, tail = text[start + 1 : end], text[end + 1 :]
            tail = tail.strip()
            if tail and not tail.startswith(";"):
                raise SipParseError(f"junk after name-addr {text[:80]!r}")
        else:
            uri_text, _, params = text.partition(";")
            tail = ";" + params if params else ""
        return cls(SipUri.parse(uri_text), display, parse_params(tail))

    def __str__(self) -> str:
        prefix = f"{self.display} " if self.display else ""
        return f"{prefix}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


def _angle_start(text: str) -> int:
    """Where the URI's ``<`` is, skipping a quoted display name that may contain one."""
    quoted = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            return index
    raise SipParseError(f"no URI in {text[:80]!r}")


def tag_of(header_value: str | None) -> str | None:
    if header_value is None:
        return None
    return NameAddr.parse(header_value).tag


@dataclass
class Via:
    transport: str  # upper case: "UDP", "TCP"
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        protocol, _, rest = text.strip().partition(" ")
        parts = [part.strip() for part in protocol.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0":
            raise SipParseError(f"bad Via {text[:80]!r}")
        sent_by, _, params = rest.strip().partition(";")
        host, port = _split_hostport(sent_by)
        return cls(parts[2].upper(), host, port, parse_params(params))

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return f"{self.host}:{self.port or 5060}"
