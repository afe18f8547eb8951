"""rtpengine in tests: one userspace-only process on 127.0.0.1 with pcap recording
(``/work/shared/media/NOTES.md``, ``docs/recording.md``), on random ports.

Stopped cleanly: rtpengine segfaults on SIGTERM while it records, so every call it still holds
is deleted first (which ends its recordings), then SIGTERM, then SIGKILL after a grace.
Imports nothing of Switchboard's but the NG client and starts nothing on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import BinaryIO

from switchboard.adapters.media.ng import MediaError, NgClient
from tests.support.sipp import _open_log, free_port

RTPENGINE = shutil.which("rtpengine") or (
    "/usr/bin/rtpengine" if Path("/usr/bin/rtpengine").exists() else None
)
PORTS = 200  # 50 two-party calls (4 ports each)


def rtpengine_available() -> bool:
    return RTPENGINE is not None


def command_line(ng_port: int, port_min: int, port_max: int, recording_dir: Path) -> list[str]:
    """The command line docs/recording.md gives, as the tests run it."""
    assert RTPENGINE is not None
    return [
        RTPENGINE,
        "--config-file=none",
        "--table=-1",
        "--interface=127.0.0.1",
        f"--listen-ng=127.0.0.1:{ng_port}",
        f"--port-min={port_min}",
        f"--port-max={port_max}",
        "--foreground",
        "--log-stderr",
        "--num-threads=2",
        "--delete-delay=0",
        f"--recording-dir={recording_dir}",
        "--recording-method=pcap",
        f"--pidfile={recording_dir.parent / 'rtpengine.pid'}",
    ]


class Rtpengine:
    def __init__(self, workdir: Path, ports: int = PORTS) -> None:
        self.workdir = workdir
        self.recording_dir = workdir / "rtpengine-recordings"
        self.ports = ports
        self.ng_port = 0
        self.process: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None

    @property
    def ng_address(self) -> str:
        return f"127.0.0.1:{self.ng_port}"

    @property
    def log_text(self) -> str:
        path = self.workdir / "rtpengine.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self) -> NgClient:
        return NgClient("127.0.0.1", self.ng_port, timeout_s=0.5, retries=2)

    async def start(self) -> None:
        self.recording_dir.mkdir(parents=True, exist_ok=True)
        self.ng_port = free_port()
        port_min = free_port(self.ports)
        args = command_line(self.ng_port, port_min, port_min + self.ports - 1, self.recording_dir)
        self._log = _open_log(self.workdir / "rtpengine.log")
        self.process = await asyncio.create_subprocess_exec(
            *args, stdout=self._log, stderr=asyncio.subprocess.STDOUT
        )
        client = self.client()
        try:
            for _ in range(100):  # it answers ping ~70 ms after start
                if self.process.returncode is not None:
                    raise RuntimeError(f"rtpengine exited: {self.log_text[-2000:]}")
                try:
                    await client.ping()
                    return
                except MediaError:
                    await asyncio.sleep(0.05)
            raise RuntimeError("rtpengine did not answer ping")
        finally:
            await client.close()

    async def delete_all(self) -> None:
        """Delete every call it holds (ending their recordings)."""
        client = self.client()
        try:
            reply = await client.request("list", limit=10000)
            for call_id in reply.get("calls", []):
                await client.delete(str(call_id))
        except MediaError:
            pass
        finally:
            await client.close()

    async def stop(self, grace_s: float = 3.0) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            await self.delete_all()
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
