"""Which stretches of a call are in its recording, from what the V0 state said and when.

Audio is kept while the call is connected and ``recordingStatus`` is ``Started``: from the
connection (or the later ``Started``) to the next ``Paused``, and so on to the end of the call.
A ``TwoParty`` consent on either side keeps nothing, whatever the API set (spec sections 4, 5).
Pure: the times come from the call's ``call.recording.changed`` events and its own timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from switchboard.domain.calls import Call, Consent, RecordingStatus


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Gap:
    """Time not in the audio, ``offset_s`` seconds into it; ``end`` None: until the call ended."""

    offset_s: float
    start: datetime
    end: datetime | None


def recorded_spans(
    connected_at: datetime | None,
    ended_at: datetime | None,
    changes: Sequence[tuple[datetime, RecordingStatus]],
) -> list[Span]:
    """``changes``: every recording status the call took, with when, in order."""
    if connected_at is None or ended_at is None or ended_at <= connected_at:
        return []
    status = RecordingStatus.STOPPED
    since = connected_at
    spans: list[Span] = []
    for at, new in changes:
        if at <= connected_at:  # set before the parties were joined: holds from the joining
            status = new
            continue
        if at >= ended_at:
            break
        if new is status:
            continue
        if status is RecordingStatus.STARTED:
            spans.append(Span(since, at))
        status, since = new, at
    if status is RecordingStatus.STARTED:
        spans.append(Span(since, ended_at))
    return [span for span in spans if span.end > span.start]


def gaps(spans: Sequence[Span], ended_at: datetime) -> list[Gap]:
    """The pauses between the recorded stretches, and one after the last if it stopped early."""
    found: list[Gap] = []
    offset = 0.0
    for i, span in enumerate(spans):
        offset += span.seconds
        following = spans[i + 1].start if i + 1 < len(spans) else None
        if following is not None:
            found.append(Gap(offset, span.end, following))
        elif span.end < ended_at:
            found.append(Gap(offset, span.end, None))
    return found


def may_record(call: Call) -> bool:
    return Consent.TWO_PARTY not in (call.from_consent, call.to_consent)
