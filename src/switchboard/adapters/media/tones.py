"""The simulator's synthetic recording: a steady tone per party in a two-channel WAV, 8 kHz
16-bit like the recordings made from rtpengine's pcaps (the agent on channel 0 at 440 Hz,
the destination on channel 1 at 660 Hz), so the whole recording surface can be tried
without SIP. Written a second at a time: both frequencies are whole numbers of cycles per
second at 8 kHz, so one second repeats without a seam and a long call costs no memory.
"""

from __future__ import annotations

import array
import asyncio
import math
import os
import sys
import tempfile
import wave
from pathlib import Path

RATE = 8000
AGENT_HZ = 440.0
DESTINATION_HZ = 660.0
AMPLITUDE = 8000  # about -12 dBFS: clearly audible, never clipped


def _second() -> bytes:
    frames = array.array("h")
    for n in range(RATE):
        t = n / RATE
        frames.append(round(AMPLITUDE * math.sin(2 * math.pi * AGENT_HZ * t)))
        frames.append(round(AMPLITUDE * math.sin(2 * math.pi * DESTINATION_HZ * t)))
    if sys.byteorder != "little":  # WAV samples are little-endian
        frames.byteswap()
    return frames.tobytes()


class ToneAudio:
    """Writes the WAVs into ``directory`` (the recording directory, so the store's rename
    stays on one file system); created 0600 by ``mkstemp``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._one_second: bytes | None = None

    async def render(self, seconds: float) -> Path:
        return await asyncio.to_thread(self._render, seconds)

    def _render(self, seconds: float) -> Path:
        if self._one_second is None:
            self._one_second = _second()
        block = self._one_second
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tone-", suffix=".wav", dir=self.directory)
        os.close(fd)
        frames = max(0, round(seconds * RATE))
        try:
            with wave.open(name, "wb") as out:
                out.setnchannels(2)
                out.setsampwidth(2)
                out.setframerate(RATE)
                whole, rest = divmod(frames, RATE)
                for _ in range(whole):
                    out.writeframesraw(block)
                out.writeframes(block[: rest * 4])
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)
