"""One two-channel WAV from a call's pcap segments: each recorded stretch (start recording to
stop recording) is one segment; they are laid end to end, so paused time is not in the file.

Inside a segment a packet's place is its RTP timestamp from the first packet of its stream
(direction and SSRC), and that stream starts where its first packet was captured relative to
the segment's first packet: lost packets leave silence, never a shift. Each direction is one
channel, chosen by the rtpengine port it was sent to (the port the party was given in its
SDP). Only PCMU and PCMA are decoded; other payloads (DTMF events, comfort noise) are left out.

Known holes: 8 kHz only (what G.711 is); a whole segment is held in memory while it is laid
out (about 115 MB for an hour unpaused).
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.adapters.media import g711
from switchboard.adapters.media.pcap import RtpPacket

log = logging.getLogger(__name__)

RATE = 8000
CHANNELS = 2
# A stream's timestamp further than this from where its capture time puts it is a jump (a new
# source after a re-INVITE without a new SSRC): placed by capture time instead.
MAX_DRIFT_S = 1.0


@dataclass
class Assembled:
    channels: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    segment_seconds: list[float] = field(default_factory=list)
    codecs: set[str] = field(default_factory=set)

    @property
    def seconds(self) -> float:
        return len(self.channels[0]) / 2 / RATE


def assemble(
    segments: Iterable[Sequence[RtpPacket]], channel_ports: Sequence[set[int]]
) -> Assembled:
    """``segments`` in order; ``channel_ports[i]``: the rtpengine ports party ``i`` sends to."""
    result = Assembled()
    for packets in segments:
        length = _segment(packets, channel_ports, result)
        result.segment_seconds.append(length / RATE)
    return result


def _segment(
    packets: Sequence[RtpPacket], channel_ports: Sequence[set[int]], result: Assembled
) -> int:
    audio = [p for p in packets if p.payload_type in g711.TABLES and p.payload]
    if not audio:
        return 0
    began = min(p.at for p in audio)
    buffers = [bytearray(), bytearray()]
    unknown: dict[int, int] = {}  # ports nobody was given: in order of appearance
    streams: dict[tuple[int, int], tuple[int, int]] = {}  # -> (sample offset, first timestamp)
    for packet in sorted(audio, key=lambda p: p.at):
        channel = _channel(packet.dest_port, channel_ports, unknown)
        if channel is None:
            continue
        by_capture = round((packet.at - began) * RATE)
        key = (packet.dest_port, packet.ssrc)
        if key not in streams:
            streams[key] = (by_capture, packet.timestamp)
        start, first = streams[key]
        offset = start + ((packet.timestamp - first) & 0xFFFFFFFF)
        if abs(offset - by_capture) > MAX_DRIFT_S * RATE:
            streams[key] = (by_capture, packet.timestamp)
            offset = by_capture
        _place(buffers[channel], offset, g711.decode(packet.payload_type, packet.payload))
        result.codecs.add(g711.NAMES[packet.payload_type])
    length = max(len(b) for b in buffers) // 2
    for index, buffer in enumerate(buffers):
        buffer.extend(bytes(2 * length - len(buffer)))
        result.channels[index] += buffer
    return length


def _channel(port: int, channel_ports: Sequence[set[int]], unknown: dict[int, int]) -> int | None:
    """The party's channel; a port nobody was given takes a channel no port was given for,
    in order of appearance, or is left out."""
    for index, ports in enumerate(channel_ports):
        if port in ports:
            return index
    if port not in unknown:
        free = [
            index
            for index, ports in enumerate(channel_ports)
            if not ports and index not in unknown.values()
        ]
        if not free:
            log.warning("RTP to port %d belongs to neither party: left out", port)
            return None
        unknown[port] = free[0]
    return unknown[port]


def _place(buffer: bytearray, offset: int, samples: bytes) -> None:
    at = 2 * offset
    if len(buffer) < at:
        buffer.extend(bytes(at - len(buffer)))
    buffer[at : at + len(samples)] = samples


def write_wav(path: Path, assembled: Assembled) -> None:
    """16-bit PCM, 8 kHz, channel 0 the agent, channel 1 the destination."""
    left, right = assembled.channels
    frames = bytearray(2 * len(left))
    # Interleave 2-byte samples: view each as 16-bit items and assign every other slot.
    view = memoryview(frames).cast("h")
    view[0::2] = memoryview(left).cast("h")
    view[1::2] = memoryview(right).cast("h")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))
