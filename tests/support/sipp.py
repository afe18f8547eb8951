"""SIPp as a peer, for the tests, the engine contract suite and the load benchmark.

Each peer is one ``sipp`` subprocess on its own 127.0.0.1 port, started from a scenario file
whose ``@NAME@`` placeholders are rendered first (SIPp reads response codes at load time, so
they cannot come from ``-key``). It is never put in the background with ``-bg``, which loses
the exit status: the status is the verdict, since the scenario's regular-expression checks
fail the call. ``start`` returns once the port is bound, read from ``/proc/net``.

The benchmarks under ``bench/`` use it too (they put the repository root on ``sys.path``); it
imports nothing but the standard library and starts nothing on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import time
from pathlib import Path
from typing import BinaryIO

SIPP = shutil.which("sipp")
_PLACEHOLDER = re.compile(r"@([A-Z0-9_]+)@")


def sipp_available() -> bool:
    return SIPP is not None


def free_port(span: int = 1) -> int:
    """A port free for UDP and TCP on 127.0.0.1, with ``span - 1`` free UDP ports after it."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + span >= 65535:
            continue
        if all(_free(port + offset, socket.SOCK_DGRAM) for offset in range(span)) and _free(
            port, socket.SOCK_STREAM
        ):
            return port
    raise RuntimeError("no free port found")


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Placeholders most callers leave as they are: trunk_flow4.xml checks the agent's answer,
# which a SIPp agent writes under o=agent, and may check who the call is from; agent_flow4.xml
# may take its time before ringing; reject.xml's final response may carry more headers.
DEFAULTS = {
    "ANSWER_RE": "o=agent.*m=audio [1-9]",
    "FROM_RE": ".*",
    "BEFORE_RINGING": "",
    "EXTRA_HEADERS": "",
}


def render(template: Path, values: dict[str, str], into: Path) -> Path:
    text = template.read_text()
    values = {**DEFAULTS, **values}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{template.name} needs a value for @{name}@")
        return values[name]

    rendered = _PLACEHOLDER.sub(replace, text)
    into.mkdir(parents=True, exist_ok=True)
    path = into / template.name
    counter = 1
    while path.exists():
        counter += 1
        path = into / f"{template.stem}-{counter}{template.suffix}"
    path.write_text(rendered)
    return path


def _open_log(path: Path) -> BinaryIO:
    return open(path, "wb")  # handed to the subprocess; the caller closes it


def port_bound(port: int, transport: str) -> bool:
    """Whether something listens on 127.0.0.1:port (UDP bound, or TCP in LISTEN)."""
    table = "/proc/net/udp" if transport == "udp" else "/proc/net/tcp"
    wanted = f"0100007F:{port:04X}"
    try:
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if (
                    len(fields) > 3
                    and fields[1] == wanted
                    and (transport == "udp" or fields[3] == "0A")
                ):
                    return True
    except OSError:
        return False
    return False


class SippPeer:
    def __init__(
        self,
        scenario: Path,
        workdir: Path,
        *,
        transport: str = "udp",
        values: dict[str, str] | None = None,
        ring_ms: int = 0,
        calls: int = 1,
        timeout_s: float = 20.0,
        trace: bool = True,
        extra: tuple[str, ...] = (),
    ) -> None:
        if SIPP is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.transport = transport
        self.port = free_port()
        self.workdir = workdir
        self.name = f"{scenario.stem}-{self.port}"
        self.scenario = render(scenario, values or {}, workdir)
        self._ring_ms = ring_ms
        self._calls = calls
        self._timeout_s = timeout_s
        self._trace = trace
        self._extra = extra
        self._process: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None

    def uri(self, user: str = "agent") -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{user}@127.0.0.1:{self.port}{suffix}"

    @property
    def error_file(self) -> Path:
        return self.workdir / f"{self.name}.errors.log"

    @property
    def message_file(self) -> Path:
        return self.workdir / f"{self.name}.messages.log"

    async def start(self) -> None:
        assert SIPP is not None
        control, media = free_port(), free_port(span=4)
        args = [
            SIPP,
            "-sf",
            str(self.scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-t",
            "u1" if self.transport == "udp" else "t1",
            "-m",
            str(self._calls),
            "-nostdin",
            "-bind_local",
            "-timeout",
            f"{self._timeout_s:g}s",
            "-timeout_error",
            "-d",
            str(self._ring_ms),
            "-ci",
            "127.0.0.1",
            "-cp",
            str(control),
            "-mp",
            str(media),
            "-trace_err",
            "-error_file",
            str(self.error_file),
            *self._extra,
        ]
        if self._trace:
            args += ["-trace_msg", "-message_file", str(self.message_file)]
        screen = _open_log(self.workdir / f"{self.name}.screen.log")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=screen,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(self.workdir),
            )
        finally:
            screen.close()
        deadline = time.monotonic() + 5.0
        while not port_bound(self.port, self.transport):
            if self._process.returncode is not None or time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(f"sipp {self.name} did not start:\n{self.report()}")
            await asyncio.sleep(0.005)

    async def wait(self, limit_s: float = 30.0) -> int:
        """The exit status: 0 when every call went through the scenario."""
        assert self._process is not None
        try:
            self.returncode = await asyncio.wait_for(self._process.wait(), limit_s)
        except TimeoutError:
            await self.stop()
            self.returncode = -1
        return self.returncode

    async def stop(self) -> None:
        await stop_process(self._process, 3.0)

    def report(self, limit: int = 6000) -> str:
        """What sipp said, for an assertion message."""
        parts = []
        for path in (self.error_file, self.message_file, self.workdir / f"{self.name}.screen.log"):
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"--- {path.name}\n{text[-limit:]}")
        return "\n".join(parts) or "(sipp wrote nothing)"


async def stop_process(process: asyncio.subprocess.Process | None, grace_s: float) -> None:
    """SIGTERM a peer, then SIGKILL it if it has not gone after ``grace_s``."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
