"""A call's rtpengine pcap segments made into one WAV in the recording store.

rtpengine (``--recording-method=pcap``) writes ``<dir>/pcaps/<call id>-<random>.pcap`` per
recorded stretch and ``<dir>/metadata/rtpengine-meta-<call id>-<random>.txt`` beside; both are
removed once the WAV is kept (or found empty). Segments are taken in the order of their first
packet; one with no packets adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from switchboard.adapters.media.assemble import assemble, write_wav
from switchboard.adapters.media.pcap import PcapError, RtpPacket, read_rtp
from switchboard.service.ports import (
    CallSetup,
    Recording,
    RecordingParty,
    RecordingPause,
    RecordingStore,
)

log = logging.getLogger(__name__)


def segment_files(rtpengine_dir: Path, call_id: str) -> list[Path]:
    return sorted((rtpengine_dir / "pcaps").glob(f"{call_id}-*.pcap"))


def _read_segments(files: Sequence[Path]) -> list[list[RtpPacket]]:
    segments = []
    for path in files:
        try:
            segments.append(list(read_rtp(path)))
        except (OSError, PcapError) as exc:
            log.warning("recording segment %s unreadable: %s", path, exc)
    segments.sort(key=lambda packets: min((p.at for p in packets), default=float("inf")))
    return segments


async def make_recording(
    rtpengine_dir: Path,
    store: RecordingStore,
    setup: CallSetup,
    *,
    channel_ports: Sequence[set[int]],
    started_at: datetime,
    ended_at: datetime,
    pauses: Sequence[tuple[datetime, datetime | None]],
) -> Recording | None:
    files = segment_files(rtpengine_dir, setup.call_id)
    # rtpengine writes a segment's last packets as it closes it: let it finish.
    await asyncio.sleep(0.05)
    segments = await asyncio.to_thread(_read_segments, files)
    made = await asyncio.to_thread(assemble, segments, channel_ports)
    offsets = []
    elapsed = 0.0
    for seconds in made.segment_seconds[: len(pauses)]:
        elapsed += seconds
        offsets.append(elapsed)
    while len(offsets) < len(pauses):
        offsets.append(elapsed)
    recording = Recording(
        call_id=setup.call_id,
        account_key=setup.account_key,
        started_at=started_at,
        ended_at=ended_at,
        duration_s=made.seconds,
        parties=(
            RecordingParty("agent", 0, agent_id=setup.caller_agent_id, phone=setup.agent_phone),
            RecordingParty(
                "destination",
                1,
                agent_id=setup.destination_agent_id,
                phone=setup.destination_phone,
                number=setup.destination_e164,
            ),
        ),
        pauses=tuple(
            RecordingPause(offset, paused, resumed)
            for offset, (paused, resumed) in zip(offsets, pauses, strict=True)
        ),
        codec="+".join(sorted(made.codecs)) or "PCMU",
        placed_at=setup.placed_at,
        presented_clid=setup.presented_clid,
    )
    temporary = await asyncio.to_thread(_temporary)
    try:
        await asyncio.to_thread(write_wav, temporary, made)
        saved = await store.save(recording, temporary)
    finally:
        await asyncio.to_thread(temporary.unlink, missing_ok=True)
    await asyncio.to_thread(_remove_segments, rtpengine_dir, setup.call_id, files)
    return saved


def _temporary() -> Path:
    handle, name = tempfile.mkstemp(suffix=".wav", prefix=".recording-")  # 0600
    os.close(handle)
    return Path(name)


def _remove_segments(rtpengine_dir: Path, call_id: str, files: Sequence[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
    for meta in (rtpengine_dir / "metadata").glob(f"rtpengine-meta-{call_id}-*.txt"):
        meta.unlink(missing_ok=True)
