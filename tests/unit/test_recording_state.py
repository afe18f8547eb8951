"""The V0 recording state reaches the engine that owns the call, and what the engine really
does is what ``recordingStatus`` says."""

from __future__ import annotations

from dataclasses import replace

from switchboard.domain.calls import RecordingStatus
from switchboard.domain.events import RecordingChanged
from switchboard.domain.placement import PlaceCallRequest
from switchboard.service import calls, provisioning, scheduler
from switchboard.service.context import Context
from switchboard.service.progress import CallProgress
from switchboard.service.provisioning import AccountOptions, AgentOptions
from tests.fakes import FakeUnitOfWorkFactory
from tests.fakes.engine import ScriptedEngine
from tests.unit.test_service import context, published

REQUEST = PlaceCallRequest(from_agent_id="1", to_telephone_number="02072068888")
STARTED, PAUSED, STOPPED = RecordingStatus.STARTED, RecordingStatus.PAUSED, RecordingStatus.STOPPED


async def recording_account(ctx: Context, records: bool = True) -> None:
    await provisioning.create_account(ctx, "acme", AccountOptions(record_calls=records))
    await provisioning.add_number(ctx, "acme", "01256636451")
    await provisioning.add_agent(ctx, "acme", "1", AgentOptions())


async def connected(ctx: Context, request: PlaceCallRequest = REQUEST) -> str:
    call = await calls.place_call(ctx, "acme", request)
    progress = CallProgress(ctx)
    await progress.agent_answered(call.id)
    await progress.destination_answered(call.id)
    return call.id


async def status(ctx: Context, call_id: str) -> RecordingStatus:
    return (await calls.get_call(ctx, "acme", call_id)).recording_status


async def test_connection_starts_recording_in_the_engine() -> None:
    engine = ScriptedEngine("sip")
    ctx = context(engine)
    await recording_account(ctx)
    call_id = await connected(ctx)
    assert engine.recordings == [(call_id, STARTED)]
    assert await status(ctx, call_id) is STARTED


async def test_an_account_that_does_not_record_asks_nothing_of_the_engine() -> None:
    engine = ScriptedEngine("sip")
    ctx = context(engine)
    await recording_account(ctx, records=False)
    call_id = await connected(ctx)
    assert engine.recordings == []
    assert await status(ctx, call_id) is STOPPED


async def test_pause_and_resume_reach_the_engine() -> None:
    engine = ScriptedEngine("sip")
    ctx = context(engine)
    await recording_account(ctx)
    call_id = await connected(ctx)
    assert await calls.set_recording(ctx, "acme", call_id, "paused") == "Paused"
    assert await calls.set_recording(ctx, "acme", call_id, "Started") == "Started"
    assert engine.recordings == [(call_id, STARTED), (call_id, PAUSED), (call_id, STARTED)]


async def test_a_call_the_engine_cannot_record_says_stopped() -> None:
    engine = ScriptedEngine("sip")
    engine.records = STOPPED  # as the SIP engine when rtpengine was unreachable at set-up
    ctx = context(engine)
    await recording_account(ctx)
    call_id = await connected(ctx)
    assert await status(ctx, call_id) is STOPPED
    changes = published(ctx).of_type(RecordingChanged)
    assert [c.recording_status for c in changes] == ["Started", "Stopped"]


async def test_two_party_consent_never_asks_the_engine_to_record() -> None:
    engine = ScriptedEngine("sip")
    ctx = context(engine)
    await recording_account(ctx)
    request = replace(REQUEST, to_consent="TwoParty")
    call_id = await connected(ctx, request)
    assert engine.recordings == []
    await calls.set_recording(ctx, "acme", call_id, "Started")
    assert engine.recordings == [(call_id, STOPPED)]
    assert await status(ctx, call_id) is STOPPED


async def test_recording_control_reaches_the_node_that_owns_the_call() -> None:
    shared = FakeUnitOfWorkFactory()
    owner_engine, other_engine = ScriptedEngine("sip"), ScriptedEngine("sip")
    owner, other = context(owner_engine, shared, "a"), context(other_engine, shared, "b")
    await recording_account(owner)
    call_id = await connected(owner)
    assert await calls.set_recording(other, "acme", call_id, "Paused") == "Paused"
    assert other_engine.recordings == []  # left as a request for the owner
    assert await scheduler.fire_due_deadlines(owner) == 1
    assert owner_engine.recordings == [(call_id, STARTED), (call_id, PAUSED)]
