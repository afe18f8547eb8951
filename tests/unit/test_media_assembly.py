"""From pcap segments to a two-channel WAV: decoding, placing by RTP timestamp, pauses absent."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

from switchboard.adapters.media import g711
from switchboard.adapters.media.assemble import assemble, write_wav
from switchboard.adapters.media.pcap import parse_rtp


def pcap(packets: list[tuple[float, int, int, int, int, bytes]]) -> bytes:
    """(time, src port, dst port, seq, timestamp, payload) as rtpengine writes them (raw IP)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for at, src, dst, seq, ts, payload in packets:
        rtp = struct.pack("!BBHII", 0x80, 0, seq, ts, 0xABC + dst) + payload
        udp = struct.pack("!HHHH", src, dst, 8 + len(rtp), 0) + rtp
        ip = (
            struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                0,
                0,
                64,
                17,
                0,
                bytes([127, 0, 0, 1]),
                bytes([127, 0, 0, 1]),
            )
            + udp
        )
        seconds = int(at)
        out.append(struct.pack("<IIII", seconds, round((at - seconds) * 1e6), len(ip), len(ip)))
        out.append(ip)
    return b"".join(out)


def stream(start: float, count: int, src: int, dst: int, code: int, skip: int = -1) -> list:
    return [
        (start + 0.02 * i, src, dst, i, 1000 + 160 * i, bytes([code]) * 160)
        for i in range(count)
        if i != skip
    ]


def test_g711_decodes_the_standard_values() -> None:
    assert g711.decode(0, b"\xff\x00\x80\x7f") == struct.pack("<4h", 0, -32124, 32124, 0)
    assert g711.decode(8, b"\xd5\x55\x2a\xaa") == struct.pack("<4h", 8, -8, -32256, 32256)


def test_pcap_records_come_back_as_rtp() -> None:
    packets = list(parse_rtp(pcap(stream(100.0, 3, 40000, 30000, 0xFF))))
    assert [(p.source[1], p.dest_port, p.sequence) for p in packets] == [
        (40000, 30000, 0),
        (40000, 30000, 1),
        (40000, 30000, 2),
    ]
    assert packets[1].timestamp == 1160 and len(packets[1].payload) == 160
    assert abs(packets[1].at - 100.02) < 1e-6


def test_a_truncated_pcap_keeps_what_it_had() -> None:
    data = pcap(stream(100.0, 3, 40000, 30000, 0xFF))
    assert len(list(parse_rtp(data[:-50]))) == 2


def test_segments_lie_end_to_end_one_channel_per_party(tmp_path: Path) -> None:
    first = stream(100.0, 150, 40000, 30000, 0x00) + stream(100.005, 150, 40002, 30010, 0x80)
    # 2 s later (paused), a second segment of 100 packets, one of the agent's lost.
    second = stream(105.0, 100, 40000, 30000, 0x00, skip=50) + stream(
        105.0, 100, 40002, 30010, 0x80
    )
    segments = [list(parse_rtp(pcap(first))), list(parse_rtp(pcap(second)))]
    made = assemble(segments, [{30000}, set()])  # the destination's port unknown: the free one
    assert made.segment_seconds[0] == 3.0 + 40 / 8000  # its stream began 5 ms later
    assert abs(made.seconds - 5.005) < 1e-9
    assert made.codecs == {"PCMU"}
    path = tmp_path / "call.wav"
    write_wav(path, made)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert abs(wav.getnframes() / 8000 - 5.005) < 1e-9
        frames = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    agent, destination = samples[0::2], samples[1::2]
    assert agent[20] == -32124 and destination[20] == 0  # destination starts 40 samples in
    assert destination[1000] == 32124
    lost = round((3.0 + 40 / 8000) * 8000) + 50 * 160 + 80  # inside the lost packet
    assert agent[lost] == 0 and agent[lost - 160] == -32124 and agent[lost + 160] == -32124
