"""The simulator's recording: when a simulated call ends, a WAV of a tone per party is kept
through the recording store with exactly the timing the V0 state said (``domain.recorded``):
audio for each stretch the call was connected and ``Started``, the pauses absent from the
audio and listed in the metadata. Nothing is kept for a call never recorded, nor for a
``TwoParty`` consent.

The timing comes from the call's ``call.recording.changed`` events (written with every change,
at connection too), so it holds across processes and restarts. Known hole: a call that
outlives the events' retention loses its early changes.
"""

from __future__ import annotations

import logging

from switchboard.domain.calls import Call, RecordingStatus
from switchboard.domain.events import RecordingChanged
from switchboard.domain.recorded import gaps, may_record, recorded_spans
from switchboard.service.context import Context
from switchboard.service.ports import Recording, RecordingParty, RecordingPause

log = logging.getLogger(__name__)


async def keep_simulated_recording(ctx: Context, call: Call) -> Recording | None:
    store, audio = ctx.recordings, ctx.synthetic_audio
    if store is None or audio is None or call.engine != "simulator" or call.ended_at is None:
        return None
    if not may_record(call):
        return None
    async with ctx.transaction(write=False) as uow:
        logged = await uow.outbox.of_call(call.account_key, call.id)
    changes = [
        (item.event.at, RecordingStatus(item.event.recording_status))
        for item in logged
        if isinstance(item.event, RecordingChanged)
    ]
    spans = recorded_spans(call.connected_at, call.ended_at, changes)
    if not spans:
        return None
    seconds = sum(span.seconds for span in spans)
    recording = Recording(
        call_id=call.id,
        account_key=call.account_key,
        started_at=spans[0].start,
        ended_at=call.ended_at,
        duration_s=seconds,
        parties=_parties(call),
        pauses=tuple(
            RecordingPause(offset_s=gap.offset_s, paused_at=gap.start, resumed_at=gap.end)
            for gap in gaps(spans, call.ended_at)
        ),
        codec="L16",  # generated, never sent by a party
        placed_at=call.created_at,
        presented_clid=call.presented_clid,
    )
    wav = await audio.render(seconds)
    try:
        return await store.save(recording, wav)
    finally:
        wav.unlink(missing_ok=True)  # taken by the store unless saving failed


def _parties(call: Call) -> tuple[RecordingParty, ...]:
    agent = RecordingParty(
        role="agent", channel=0, agent_id=call.caller_agent_id, phone=call.agent_phone
    )
    if call.destination_agent_id is not None:
        other = RecordingParty(
            role="destination",
            channel=1,
            agent_id=call.destination_agent_id,
            phone=call.destination_phone,
        )
    else:
        other = RecordingParty(
            role="destination",
            channel=1,
            number=call.destination_e164 or call.destination_number,
        )
    return (agent, other)
