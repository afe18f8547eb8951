"""A tiny RTP peer for media tests: sends PCMU packets from a bound UDP socket and counts
what arrives."""

from __future__ import annotations

import re
import socket
import struct

from tests.support.sipp import free_port


def sdp_for(port: int, *, session: int = 1, payload: int = 0) -> bytes:
    name = {0: "PCMU", 8: "PCMA"}[payload]
    return (
        f"v=0\r\no=- {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {payload}\r\na=rtpmap:{payload} {name}/8000\r\n"
    ).encode()


def media_address(sdp: bytes) -> tuple[str, int]:
    host = re.search(rb"^c=IN IP4 (\S+)", sdp, re.M)
    port = re.search(rb"^m=audio (\d+)", sdp, re.M)
    assert host is not None and port is not None, sdp
    return host.group(1).decode(), int(port.group(1))


class RtpPeer:
    def __init__(self, ssrc: int) -> None:
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.setblocking(False)
        self.ssrc = ssrc
        self.seq = 0

    def send(self, to: tuple[str, int], payload: bytes = b"\xff" * 160, pt: int = 0) -> None:
        header = struct.pack("!BBHII", 0x80, pt, self.seq & 0xFFFF, self.seq * 160, self.ssrc)
        self.seq += 1
        self.sock.sendto(header + payload, to)

    def drain(self) -> list[bytes]:
        got: list[bytes] = []
        while True:
            try:
                got.append(self.sock.recv(4096))
            except BlockingIOError:
                return got

    def close(self) -> None:
        self.sock.close()
