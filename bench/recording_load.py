"""Concurrent recorded calls through a userspace rtpengine: when do packets start to be lost,
what does a call cost rtpengine in CPU, and how much disk does a minute of recording take.

For each step of concurrency N: N calls are set up with our NG client (offer, answer, start
recording), each direction sends 20 ms PCMU packets (50 per second) for ``--seconds``, and
every packet the far side receives is counted. rtpengine's CPU is read from /proc over the
sending time. At the end of each step the recordings are stopped, the calls deleted, and the
pcap bytes written are summed. The generator is Python on the same cores: its own CPU is shown,
and a step where it is near a whole core measures the generator as much as rtpengine.

    python bench/recording_load.py --steps 10,25,50,100,150 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.rtpengine import Rtpengine

PAYLOAD = b"\xff" * 160
TICK = 0.02


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return sock


def sdp(port: int) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


def port_of(body: bytes) -> int:
    match = re.search(rb"^m=audio (\d+)", body, re.M)
    assert match is not None
    return int(match.group(1))


async def step(rtpe: Rtpengine, calls: int, seconds: float) -> dict[str, float]:
    client = rtpe.client()
    legs = []  # (socket, where it sends)
    for index in range(calls):
        a, b = udp_socket(), udp_socket()
        call_id = f"bench-{calls}-{index}"
        to_b = await client.offer(call_id, "a", sdp(a.getsockname()[1]))
        to_a = await client.answer(call_id, "a", "b", sdp(b.getsockname()[1]))
        await client.start_recording(call_id)
        legs += [(a, ("127.0.0.1", port_of(to_a))), (b, ("127.0.0.1", port_of(to_b)))]
    assert rtpe.process is not None
    pid = rtpe.process.pid
    sent = received = 0
    cpu0, own0 = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    seq = 0
    while time.monotonic() - began < seconds:
        tick = time.monotonic()
        header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 1)
        for sock, to in legs:
            sock.sendto(header + PAYLOAD, to)
            sent += 1
        for sock, _ in legs:
            while True:
                try:
                    sock.recv(2048)
                    received += 1
                except BlockingIOError:
                    break
        seq += 1
        await asyncio.sleep(max(0.0, TICK - (time.monotonic() - tick)))
    await asyncio.sleep(0.2)
    for sock, _ in legs:
        while True:
            try:
                sock.recv(2048)
                received += 1
            except BlockingIOError:
                break
    elapsed = time.monotonic() - began
    cpu = cpu_seconds(pid) - cpu0
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    own = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
    for index in range(calls):
        await client.stop_recording(f"bench-{calls}-{index}")
        await client.delete(f"bench-{calls}-{index}")
    await client.close()
    for sock, _ in legs:
        sock.close()
    await asyncio.sleep(0.3)
    pcaps = list((rtpe.recording_dir / "pcaps").glob(f"bench-{calls}-*.pcap"))
    disk = sum(p.stat().st_size for p in pcaps)
    for path in pcaps:
        path.unlink()
    for path in (rtpe.recording_dir / "metadata").glob("*"):
        path.unlink()
    return {
        "calls": calls,
        "sent": sent,
        "lost_pct": 100.0 * (sent - received) / sent if sent else 0.0,
        "pps": sent / elapsed,
        "rtpengine_cpu_pct": 100.0 * cpu / elapsed,
        "cpu_pct_per_call": 100.0 * cpu / elapsed / calls,
        "generator_cpu_pct": 100.0 * own / elapsed,
        "disk_kb_per_call_minute": disk / calls / elapsed * 60 / 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="10,25,50,100,150")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    print(
        f"{'calls':>6} {'pkts/s':>8} {'lost %':>7} {'rtpe CPU %':>10} "
        f"{'CPU %/call':>10} {'gen CPU %':>9} {'pcap kB/call-min':>16}"
    )
    for calls in steps:
        # A fresh rtpengine per step: ports of deleted calls are not reused at once.
        with tempfile.TemporaryDirectory() as workdir:
            rtpe = Rtpengine(Path(workdir), ports=6 * calls + 40)
            await rtpe.start()
            try:
                r = await step(rtpe, calls, args.seconds)
            finally:
                await rtpe.stop()
        print(
            f"{r['calls']:>6.0f} {r['pps']:>8.0f} {r['lost_pct']:>7.2f} "
            f"{r['rtpengine_cpu_pct']:>10.1f} {r['cpu_pct_per_call']:>10.2f} "
            f"{r['generator_cpu_pct']:>9.1f} {r['disk_kb_per_call_minute']:>16.0f}",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
