"""baresip as a real softphone in tests: one ``baresip`` process per phone, driven over its
``ctrl_tcp`` module (netstring-framed JSON commands in, call events out).

Each phone gets a directory of its own with a ``config`` and an ``accounts`` file, listens on
127.0.0.1 only (SIP over UDP and TCP on one port; baresip also opens its TLS listener on the
next port, so two are reserved), and sends a tone it reads from a WAV file the test writes, so
that RTP flows once a call has media. ``answermode=manual``: the phone rings until told to
``accept`` (answer) or ``hangup`` (decline while ringing, BYE once answered).

What baresip 1.0 (Debian) needs, learned the hard way (see ``shared/sip/NOTES.md``): the
``account`` module to read ``accounts`` at all; a request URI whose user part is the account's;
an audio source at 8 kHz mono (``ausine`` refuses anything but 48 kHz stereo and the call is
dropped when a source fails to start); ``net_interface 127.0.0.1`` for the SDP address.

Imports nothing outside the standard library and starts nothing on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import shutil
import socket
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tests.support.sipp import _open_log, free_port, stop_process

BARESIP = shutil.which("baresip")
_tokens = itertools.count(1)


_TRACE_HEADER = re.compile(r"^(?:UDP|TCP) [0-9.]+:(\d+) -> [0-9.]+:(\d+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m|\[[0-9;]*m")


@dataclass
class Traced:
    sent: bool
    start_line: str
    sdp: list[str] = field(default_factory=list)


def media_address(sdp: list[str]) -> tuple[str, int] | None:
    """The audio stream's address in an SDP: its c= (media or session level) and m= port."""
    host: str | None = None
    port: int | None = None
    for line in sdp:
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    if host is None or port is None:
        return None
    return host, port


def baresip_available() -> bool:
    return BARESIP is not None


def write_tone(path: Path, seconds: int = 20) -> None:
    """A 440 Hz tone, 8 kHz mono 16-bit: what G.711 carries without resampling."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = (
            struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 8000)))
            for i in range(8000 * seconds)
        )
        out.writeframes(b"".join(frames))


_handed_out: set[int] = set()


def _ports(span: int) -> int:
    """``span`` consecutive ports free for UDP and TCP, never handed to another phone of this
    process (a phone binds its ports only when it starts, so a plain free-port probe could
    give the same ones twice)."""
    for _ in range(100):
        first = free_port(span=span)
        wanted = set(range(first, first + span))
        if wanted & _handed_out:
            continue
        if all(_tcp_free(port) for port in wanted):
            _handed_out.update(wanted)
            return first
    raise RuntimeError("no free ports for a phone")


def _tcp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class BaresipPhone:
    def __init__(self, workdir: Path, user: str, *, transport: str = "udp") -> None:
        self.user = user
        self.transport = transport
        self.dir = workdir / f"baresip-{user}"
        self.port = _ports(2)  # SIP; baresip puts TLS on the next port
        self.ctrl_port = _ports(1)
        self.rtp_port = _ports(4)
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- life

    def uri(self) -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.user}@127.0.0.1:{self.port}{suffix}"

    async def start(self, within: float = 10.0) -> None:
        assert BARESIP is not None, "baresip not installed"
        self.dir.mkdir(parents=True, exist_ok=True)
        tone = self.dir / "tone.wav"
        write_tone(tone)
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.port}",
                    f"sip_trans_def {self.transport}",
                    "call_local_timeout 120",
                    "call_max_calls 4",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module_app account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    f"audio_player aubridge,{self.user}",
                    f"audio_alert aubridge,{self.user}",
                    f"audio_source aufile,{tone}",
                    f"rtp_ports {self.rtp_port}-{self.rtp_port + 3}",
                    "net_interface 127.0.0.1",
                    "dns_server 127.0.0.1:53",
                    "",
                ]
            )
        )
        (self.dir / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1:{self.port}>;regint=0;answermode=manual\n"
        )
        self._log = _open_log(self.dir / "baresip.log")
        self._process = await asyncio.create_subprocess_exec(
            BARESIP,
            "-4",
            "-v",
            "-s",  # the SIP trace: what a test reads the SDP from
            "-f",
            str(self.dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        async with asyncio.timeout(within):
            while True:
                if self._process.returncode is not None:
                    raise RuntimeError(f"baresip {self.user} exited:\n{self.log()}")
                try:
                    self._reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self.ctrl_port
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        self._task = asyncio.ensure_future(self._read())
        # The account is loaded by the time ctrl_tcp listens; make sure before the first call.
        info = await self.command("reginfo")
        if self.user not in str(info.get("data")):
            raise RuntimeError(f"baresip {self.user} has no account:\n{self.log()}")

    async def stop(self) -> None:
        try:
            if self._task is not None:
                self._task.cancel()
                # The reader may have ended on its own (EOF when baresip went away).
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            if self._writer is not None:
                self._writer.close()
            await stop_process(self._process, 3.0)
        finally:
            if self._log is not None:
                self._log.close()

    async def kill(self) -> None:
        """The phone vanishes (power cut, network gone): no BYE, nothing answers any more."""
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    def log(self) -> str:
        path = self.dir / "baresip.log"
        if not path.exists():
            return ""
        return path.read_bytes().replace(b"\0", b"").decode("utf-8", "replace")

    # ----------------------------------------------------------------- control

    async def command(self, name: str, params: str = "", within: float = 5.0) -> dict[str, Any]:
        assert self._writer is not None
        token = str(next(_tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        payload = {"command": name, "params": params, "token": token}
        self._writer.write(_netstring(json.dumps(payload).encode()))
        await self._writer.drain()
        return await asyncio.wait_for(future, within)

    async def accept(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        """Decline a ringing call (baresip answers 486), or hang up an answered one (BYE)."""
        await self.command("hangup")

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            try:
                head = await self._reader.readuntil(b":")
                body = await self._reader.readexactly(int(head[:-1]) + 1)
            except asyncio.IncompleteReadError:
                return  # baresip closed the control connection
            message = json.loads(body[:-1])
            if message.get("response"):
                future = self._responses.pop(str(message.get("token")), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("event"):
                self.events.append(message)
                self._changed.set()

    # ----------------------------------------------------------------- what happened

    def types(self) -> list[str]:
        return [str(event.get("type")) for event in self.events]

    async def wait_event(self, kind: str, within: float = 10.0, count: int = 1) -> dict[str, Any]:
        """The ``count``-th event of that type (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED)."""
        async with asyncio.timeout(within):
            while True:
                found = [event for event in self.events if event.get("type") == kind]
                if len(found) >= count:
                    return found[count - 1]
                self._changed.clear()
                await self._changed.wait()

    def sip_trace(self) -> list[Traced]:
        """Every SIP message the phone sent or received, from its ``-s`` trace, in order."""
        traced: list[Traced] = []
        current: Traced | None = None
        # The trace does not say which way a message went. A message to the phone arrives at
        # its SIP port or at a port it connected from; a TCP connection the phone opened
        # starts with a message it sent, which makes that connection's local port its own.
        mine = {self.port}
        for raw in self.log().replace("\r", "").split("\n"):
            line = _ANSI.sub("", raw).strip()
            header = _TRACE_HEADER.match(line)
            if header is not None:
                source, destination = int(header.group(1)), int(header.group(2))
                sent = destination not in mine
                if sent:
                    mine.add(source)
                current = Traced(sent=sent, start_line="")
                traced.append(current)
                continue
            if current is None or not line:
                continue
            if line == "#":
                current = None
            elif not current.start_line:
                current.start_line = line
            elif len(line) > 2 and line[1] == "=" and line[0] in "vocmat":
                current.sdp.append(line)
        return traced

    def last_sdp(self, *, sent: bool) -> list[str]:
        """The last SDP the phone sent (``sent``) or received."""
        for message in reversed(self.sip_trace()):
            if message.sent is sent and message.sdp:
                return message.sdp
        return []

    async def call_status(self) -> str:
        return str((await self.command("callstat")).get("data"))
