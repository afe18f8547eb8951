"""Reading the RTP out of rtpengine's pcap recordings (``--recording-method=pcap``).

Classic libpcap files only (what rtpengine writes: raw IP, link type 101); Ethernet and Linux
"cooked" captures are read too so that a capture taken another way can be replayed. IPv4 and
IPv6, UDP only; a truncated or foreign record ends the reading of that file (a segment cut off
by a crash keeps what it had), it never raises past ``read_rtp``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
LINK_ETHERNET = 1
LINK_RAW = (101, 12, 14)
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_SLL = 113


@dataclass(frozen=True, slots=True)
class RtpPacket:
    at: float  # capture time, seconds since the epoch
    source: tuple[str, int]
    dest_port: int  # the port it was sent to (rtpengine's, for its recordings)
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


class PcapError(ValueError):
    """Not a pcap file we can read."""


def read_rtp(path: Path) -> Iterator[RtpPacket]:
    with open(path, "rb") as handle:
        data = handle.read()
    yield from parse_rtp(data, str(path))


def parse_rtp(data: bytes, name: str = "pcap") -> Iterator[RtpPacket]:
    if len(data) < 24 or data[:4] not in _MAGIC:
        raise PcapError(f"{name}: not a pcap file")
    order, unit = _MAGIC[data[:4]]
    link = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    at = 24
    while at + 16 <= len(data):
        seconds, fraction, captured, _original = record.unpack_from(data, at)
        at += 16
        if at + captured > len(data):
            log.warning("%s: truncated record at byte %d", name, at - 16)
            return
        frame = data[at : at + captured]
        at += captured
        packet = _rtp(frame, link, seconds + fraction * unit)
        if packet is not None:
            yield packet


def _rtp(frame: bytes, link: int, when: float) -> RtpPacket | None:
    ip = _ip_payload(frame, link)
    if ip is None:
        return None
    source, udp = ip
    if len(udp) < 8 + 12:
        return None
    src_port, dst_port = struct.unpack_from("!HH", udp)
    rtp = udp[8:]
    first, second = rtp[0], rtp[1]
    if first >> 6 != 2:
        return None
    payload_type = second & 0x7F
    header = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(rtp) < header + 4:
            return None
        header += 4 + 4 * struct.unpack_from("!H", rtp, header + 2)[0]
    end = len(rtp)
    if first & 0x20 and end > header:  # padding
        end -= rtp[-1]
    if end < header:
        return None
    sequence, timestamp, ssrc = struct.unpack_from("!HII", rtp, 2)
    return RtpPacket(
        when, (source, src_port), dst_port, payload_type, sequence, timestamp, ssrc, rtp[header:end]
    )


def _ip_payload(frame: bytes, link: int) -> tuple[str, bytes] | None:
    if link == LINK_ETHERNET:
        if len(frame) < 14:
            return None
        frame = frame[14:]
    elif link == LINK_SLL:
        if len(frame) < 16:
            return None
        frame = frame[16:]
    elif link not in (*LINK_RAW, LINK_IPV4, LINK_IPV6):
        return None
    if not frame:
        return None
    version = frame[0] >> 4
    if version == 4 and len(frame) >= 20 and frame[9] == 17:
        header = 4 * (frame[0] & 0x0F)
        total = struct.unpack_from("!H", frame, 2)[0]
        source = ".".join(str(b) for b in frame[12:16])
        return source, frame[header : total or len(frame)]
    if version == 6 and len(frame) >= 40 and frame[6] == 17:
        source = ":".join(frame[8 + i : 10 + i].hex() for i in range(0, 16, 2))
        return source, frame[40:]
    return None
