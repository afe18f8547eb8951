"""The little SDP (RFC 4566, offer/answer RFC 3264) a third-party controller has to write.

The controller relays the parties' SDP as opaque text, except for three things it says itself:
the held first offer of flow IV (what real phones accept before media is known: ``c=IN IP4
0.0.0.0``, ``m=audio 9 RTP/AVP 0 8 101``, ``a=inactive``), an answer that rejects every stream
(port 0; for the ACK owed to a phone whose offer can no longer be used), and the origin line
rewritten with our own session id and a version that goes up, so that a party that first got
our held offer sees the relayed offer as a new version of the same session.

Known holes: no media is inspected or negotiated here (codecs are the parties' business).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

CONTENT_TYPE = "application/sdp"


@dataclass
class Origin:
    """Our o= line toward one party; ``version`` goes up with each new description."""

    address: str
    username: str = "ctl"
    session_id: int = 0
    version: int = 0

    def __post_init__(self) -> None:
        if not self.session_id:
            self.session_id = secrets.randbelow(2**31) + 1

    def next_line(self) -> str:
        self.version += 1
        return f"o={self.username} {self.session_id} {self.version} IN IP4 {self.address}"


def _join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _lines(body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    return [line for line in text.replace("\r\n", "\n").split("\n") if line]


def held_offer(origin: Origin) -> bytes:
    return _join(
        [
            "v=0",
            origin.next_line(),
            "s=-",
            "c=IN IP4 0.0.0.0",
            "t=0 0",
            "m=audio 9 RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=inactive",
        ]
    )


def reject_all(offer: bytes, origin: Origin) -> bytes:
    """An answer to ``offer`` that refuses every m= line (RFC 3264 section 6: port zero)."""
    media = [line for line in _lines(offer) if line.startswith("m=")]
    answer = ["v=0", origin.next_line(), "s=-", "c=IN IP4 0.0.0.0", "t=0 0"]
    for line in media or ["m=audio 0 RTP/AVP 0"]:
        parts = line[2:].split()
        kind = parts[0] if parts else "audio"
        proto = parts[2] if len(parts) > 2 else "RTP/AVP"
        formats = parts[3:4] or ["0"]
        answer.append(f"m={kind} 0 {proto} {formats[0]}")
    return _join(answer)


def with_origin(body: bytes, origin: Origin) -> bytes:
    """The same description under our origin line, with the next version."""
    lines = _lines(body)
    replaced = False
    for index, line in enumerate(lines):
        if line.startswith("o="):
            lines[index] = origin.next_line()
            replaced = True
            break
    if not replaced:
        lines.insert(1 if lines and lines[0].startswith("v=") else 0, origin.next_line())
    return _join(lines)


def has_media(body: bytes) -> bool:
    return any(line.startswith("m=") for line in _lines(body))


def origin_of(body: bytes) -> str | None:
    """The o= line: a new version there means a new description, the same one a refresh."""
    for line in _lines(body):
        if line.startswith("o="):
            return line
    return None
