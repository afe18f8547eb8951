"""The media anchor: rtpengine between the two parties of a call, and the call's recording.

``MediaAnchor`` is one per engine (the NG client, where rtpengine writes its pcaps, the store);
``CallMedia`` is one per call. The SIP controller hands each description that goes from one
party to the other through ``offer``/``answer``, and gives the other party what comes back:
each phone then sends its media to rtpengine. Roles ("agent", "destination") are the NG tags.

Failure is never the call's: if rtpengine cannot be reached (or refuses) before the call is
anchored, the call goes on phone to phone (``anchored`` False, a WARNING says why) and cannot
be recorded; ``record`` then answers STOPPED, which the service stores, so ``recordingStatus``
says what really happens. After the call is anchored, a failure keeps the description as it
was (logged); a phone may then lose its media, which is the price of not hanging up.

Recording: 10.5 has no pause, so Started is ``start recording`` and Paused is ``stop
recording``; each stretch is a pcap segment, and ``finish`` makes one WAV of them
(``recorder.make_recording``) once the call is deleted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from switchboard.adapters.media import recorder
from switchboard.adapters.media.ng import MediaError, NgClient
from switchboard.domain.calls import RecordingStatus
from switchboard.service.ports import CallSetup, RecordingStore

log = logging.getLogger(__name__)

AGENT = "agent"
DESTINATION = "destination"
ROLES = (AGENT, DESTINATION)


@dataclass
class MediaAnchor:
    client: NgClient
    now: Callable[[], datetime]
    # Where rtpengine writes (its --recording-dir) and where the WAVs go; None: no files.
    rtpengine_recording_dir: Path | None = None
    store: RecordingStore | None = None
    calls: dict[str, CallMedia] = field(default_factory=dict)

    @property
    def can_record(self) -> bool:
        return self.rtpengine_recording_dir is not None and self.store is not None

    def for_call(self, setup: CallSetup) -> CallMedia:
        media = CallMedia(self, setup)
        self.calls[setup.call_id] = media
        return media

    async def open(self) -> None:
        try:
            await self.client.open()
            await self.client.ping()
        except MediaError as exc:
            # Not fatal: each call tries again, and goes on without media anchoring if it must.
            log.warning("rtpengine at %s did not answer at start: %s", self.client.target, exc)

    async def close(self) -> None:
        await self.client.close()


class CallMedia:
    def __init__(self, anchor: MediaAnchor, setup: CallSetup) -> None:
        self.anchor = anchor
        self.setup = setup
        self.call_id = setup.call_id
        self.anchored: bool | None = None  # None: not yet tried
        # The rtpengine ports each party was told to send to (the channels of the WAV).
        self.ports: dict[str, set[int]] = {AGENT: set(), DESTINATION: set()}
        self.recording = False
        self.started_at: datetime | None = None
        self.pauses: list[list[datetime | None]] = []  # [paused_at, resumed_at]
        self.finished = False

    # ----------------------------------------------------------------- descriptions

    async def offer(self, from_role: str, sdp: bytes, to_role: str | None = None) -> bytes:
        """The description ``from_role`` offered, as the other party must get it."""
        if self.anchored is False or self.finished:
            return sdp
        other = _other(from_role)
        try:
            rewritten = await self.anchor.client.offer(
                self.call_id, from_role, sdp, to_tag=to_role if self.anchored else None
            )
        except MediaError as exc:
            return self._failed("offer", exc, sdp)
        self.anchored = True
        self._note_port(other, rewritten)
        return rewritten

    async def answer(self, offerer: str, answerer: str, sdp: bytes) -> bytes:
        """The answer ``answerer`` gave to ``offerer``'s offer, as the offerer must get it."""
        if not self.anchored or self.finished:
            return sdp
        try:
            rewritten = await self.anchor.client.answer(self.call_id, offerer, answerer, sdp)
        except MediaError as exc:
            return self._failed("answer", exc, sdp)
        self._note_port(offerer, rewritten)
        return rewritten

    def _failed(self, step: str, exc: MediaError, sdp: bytes) -> bytes:
        if self.anchored is None:
            self.anchored = False
            log.warning(
                "call %s: rtpengine %s failed (%s): media goes phone to phone, unrecorded",
                self.call_id,
                step,
                exc,
            )
        else:
            log.warning(
                "call %s: rtpengine %s failed (%s): description passed as is",
                self.call_id,
                step,
                exc,
            )
        return sdp

    def _note_port(self, role: str, sdp: bytes) -> None:
        port = audio_port(sdp)
        if port:
            self.ports[role].add(port)

    # ----------------------------------------------------------------- recording

    async def record(self, status: RecordingStatus) -> RecordingStatus:
        """Apply the V0 recording state; what really happens (STOPPED: nothing records)."""
        if not self.anchored or self.finished or not self.anchor.can_record:
            if status is not RecordingStatus.STOPPED:
                log.warning(
                    "call %s: recording %s asked, but %s",
                    self.call_id,
                    status.value,
                    "rtpengine is not configured to record (no recording directory)"
                    if self.anchored
                    else "the call's media does not pass rtpengine",
                )
            return RecordingStatus.STOPPED
        try:
            if status is RecordingStatus.STARTED and not self.recording:
                await self.anchor.client.start_recording(self.call_id)
                now = self.anchor.now()
                if self.started_at is None:
                    self.started_at = now
                elif self.pauses and self.pauses[-1][1] is None:
                    self.pauses[-1][1] = now
                self.recording = True
            elif status is not RecordingStatus.STARTED and self.recording:
                await self.anchor.client.stop_recording(self.call_id)
                self.recording = False
                self.pauses.append([self.anchor.now(), None])
        except MediaError as exc:
            log.warning("call %s: recording %s failed: %s", self.call_id, status.value, exc)
            return RecordingStatus.PAUSED if self.started_at else RecordingStatus.STOPPED
        return status

    async def finish(self) -> None:
        """The call ended: stop recording, delete the call in rtpengine, make the WAV."""
        if self.finished:
            return
        self.finished = True
        self.anchor.calls.pop(self.call_id, None)
        if not self.anchored:
            return
        try:
            if self.recording:
                await self.anchor.client.stop_recording(self.call_id)
                self.recording = False
            await self.anchor.client.delete(self.call_id)
        except MediaError as exc:
            log.warning("call %s: rtpengine delete failed: %s", self.call_id, exc)
        if self.started_at is None or not self.anchor.can_record:
            return
        assert self.anchor.rtpengine_recording_dir is not None and self.anchor.store
        try:
            await recorder.make_recording(
                self.anchor.rtpengine_recording_dir,
                self.anchor.store,
                self.setup,
                channel_ports=[self.ports[AGENT], self.ports[DESTINATION]],
                started_at=self.started_at,
                ended_at=self.anchor.now(),
                pauses=[(p[0], p[1]) for p in self.pauses if p[0] is not None],
            )
        except Exception:
            log.exception("call %s: the recording could not be made", self.call_id)


def _other(role: str) -> str:
    return DESTINATION if role == AGENT else AGENT


_AUDIO = re.compile(rb"^m=audio (\d+) ", re.M)


def audio_port(sdp: bytes) -> int | None:
    match = _AUDIO.search(sdp)
    return int(match.group(1)) if match else None
