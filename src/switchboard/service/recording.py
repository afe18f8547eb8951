"""The V0 recording state made real: the engine that owns a connected call is told what its
``recordingStatus`` says, and what the engine really does is stored back.

Called after the connection is committed (``CallProgress.destination_answered``) and after the
API stored a new value (``calls.set_recording``). A call this process may not drive (another
node's SIP call) gets the request as a deadline due now, and that node's doorbell is rung, as
for a hang-up; its deadline loop applies it (``scheduler``).

Consent ``TwoParty`` (either party): the engine is only ever asked for STOPPED, so nothing is
recorded, whatever the API sets. When the engine answers STOPPED for a call asked to record
(its media does not pass rtpengine, or the consent forbids it) the stored value becomes
Stopped: ``recordingStatus`` says what really happens (docs/decisions.md).
"""

from __future__ import annotations

import logging

from switchboard.domain.calls import Call, Consent, RecordingStatus
from switchboard.domain.events import RecordingChanged, of_call
from switchboard.service.context import Context
from switchboard.service.ports import CallSetup

log = logging.getLogger(__name__)

RECORDING_TAG = "recording:"


def consent_forbids(call: Call) -> bool:
    return Consent.TWO_PARTY in (call.from_consent, call.to_consent)


def drivable(ctx: Context, call: Call) -> bool:
    """This process's engine may drive the call (any simulator call, or one this node placed)."""
    return call.engine == ctx.engine.name and (
        call.engine == "simulator" or (ctx.engine_running and call.node_id == ctx.node_id)
    )


async def apply_recording(ctx: Context, call: Call) -> None:
    if not call.is_active or call.connected_at is None:
        return  # applied at connection
    if not drivable(ctx, call):
        async with ctx.uow() as uow:
            await uow.calls.set_deadline(
                call.id, ctx.clock.now(), RECORDING_TAG + call.recording_status.value
            )
            doorbell = await uow.nodes.doorbell(call.node_id)
            await uow.commit()
        if doorbell is not None and ctx.doorbell is not None:
            await ctx.doorbell.ring(doorbell)
        return
    await record_now(ctx, call, call.recording_status)


async def record_now(ctx: Context, call: Call, asked: RecordingStatus) -> None:
    """Tell this process's engine; store back what really happens if it differs."""
    wanted = RecordingStatus.STOPPED if consent_forbids(call) else asked
    if wanted is RecordingStatus.STOPPED and asked is RecordingStatus.STOPPED:
        return
    real = await ctx.engine.record(CallSetup.of(call), wanted)
    if real is asked:
        return
    async with ctx.transaction() as uow:
        current = await uow.calls.get(call.id, for_update=True)
        # Only over the value applied: a newer one from the API gets its own turn.
        if current is None or not current.is_active or current.recording_status is not asked:
            return
        current.recording_status = real
        await uow.calls.save(current)
        uow.events.append(
            of_call(RecordingChanged, current, ctx.clock.now(), recording_status=real.value)
        )
        await uow.commit()
    log.warning(
        "call %s: recording %s asked, %s stored: %s",
        call.id,
        asked.value,
        real.value,
        "the consent is TwoParty" if consent_forbids(call) else "the engine cannot record it",
    )
