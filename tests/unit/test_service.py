"""Use-cases over fakes: storage in memory, a scripted engine, a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from switchboard.adapters.clock import SystemClock as SystemClockForTests
from switchboard.adapters.numbering import LibPhoneNumberPlan
from switchboard.adapters.telephony.simulator import SimulatorEngine
from switchboard.adapters.tokens import JwtAccessTokens, Sha256SecretHasher
from switchboard.domain.agents import AgentState
from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.domain.errors import (
    AccountForbidden,
    CallNotStarted,
    InvalidAccessToken,
    InvalidClient,
)
from switchboard.domain.events import (
    AgentStateChanged,
    CallConnected,
    CallEnded,
    CallEvent,
    CallPlaced,
)
from switchboard.domain.placement import PlaceCallRequest
from switchboard.service import auth, calls, provisioning, scheduler
from switchboard.service.context import Context
from switchboard.service.ports import CallSetup, Deadline, StartOutcome
from switchboard.service.progress import CallProgress
from switchboard.service.provisioning import AccountOptions, AgentOptions
from tests.fakes import FakeClock, FakeEventPublisher, FakeUnitOfWorkFactory
from tests.fakes.engine import ScriptedEngine

REQUEST = PlaceCallRequest(from_agent_id="1", to_telephone_number="02072068888")


def context(
    engine: ScriptedEngine | None = None,
    uow: FakeUnitOfWorkFactory | None = None,
    node: str = "node-1",
) -> Context:
    engine = engine or ScriptedEngine()
    ctx = Context(
        uow=uow or FakeUnitOfWorkFactory(),
        clock=FakeClock(),
        engine=engine,
        numbers=LibPhoneNumberPlan(),
        tokens=JwtAccessTokens("k" * 40),
        hasher=Sha256SecretHasher(),
        publisher=FakeEventPublisher(),
        node_id=node,
    )
    engine.bind(CallProgress(ctx))
    return ctx


async def provisioned(ctx: Context) -> str:
    secret = await provisioning.create_account(ctx, "acme", AccountOptions(wrapup_seconds=10))
    await provisioning.add_number(ctx, "acme", "01256636451")
    await provisioning.add_agent(ctx, "acme", "1", AgentOptions())
    await provisioning.add_agent(ctx, "acme", "2", AgentOptions())
    return secret


def published(ctx: Context) -> FakeEventPublisher:
    assert isinstance(ctx.publisher, FakeEventPublisher)
    return ctx.publisher


async def test_placing_a_call_commits_it_and_publishes_call_placed() -> None:
    ctx = context()
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    assert (await calls.get_call(ctx, "acme", call.id)).caller_agent_id == "1"
    assert [type(e) for e in published(ctx).published] == [CallPlaced]
    setup = ctx.engine.started[0]  # type: ignore[attr-defined]
    assert (setup.destination_e164, setup.presented_clid_e164, setup.agent_timeout_s) == (
        "+442072068888",
        "+441256636451",
        15.0,
    )


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (StartOutcome.AGENT_BUSY, "Unable to place call - Agent number busy"),
        (StartOutcome.AGENT_UNREACHABLE, "Unable to place call to Agent. Please try again"),
        (RuntimeError("socket exploded"), "Unable to place call to Agent. Please try again"),
    ],
)
async def test_engine_failure_to_start_leaves_no_trace(
    outcome: StartOutcome | Exception, message: str
) -> None:
    engine = ScriptedEngine()
    engine.outcome = outcome
    ctx = context(engine)
    await provisioned(ctx)
    with pytest.raises(CallNotStarted) as raised:
        await calls.place_call(ctx, "acme", REQUEST)
    assert raised.value.message == message
    assert await calls.list_calls(ctx, "acme") == []
    agents = {a.agent_id: a for a in await provisioning.list_agents(ctx, "acme")}
    assert (agents["1"].state, agents["1"].current_call_id, agents["1"].state_before_call) == (
        AgentState.READY,
        None,
        None,
    )


async def test_signals_move_the_call_and_end_it_in_one_transaction() -> None:
    ctx = context()
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    progress = CallProgress(ctx)
    await progress.agent_answered(call.id)
    await progress.destination_answered(call.id)
    await progress.ended(call.id, CallResult.hung_up(Party.ORIGINATOR))
    await progress.ended(
        call.id, CallResult.failure(Party.DESTINATION, Reason.CALL_FAILED)
    )  # ignored
    ended = await calls.get_call(ctx, "acme", call.id)
    assert ended.result == CallResult.hung_up(Party.ORIGINATOR)
    kinds = [type(e) for e in published(ctx).published]
    assert kinds.count(CallEnded) == 1 and CallConnected in kinds
    changed = published(ctx).of_type(AgentStateChanged)
    assert (changed[-1].agent_id, changed[-1].state, changed[-1].previous) == (
        "1",
        "Wrapup",
        "BusyOutgoing",
    )


async def test_signals_for_unknown_calls_are_ignored() -> None:
    ctx = context()
    await provisioned(ctx)
    await CallProgress(ctx).agent_answered("nope")
    await CallProgress(ctx).ended("nope", CallResult.hung_up(Party.ORIGINATOR))
    assert published(ctx).published == []


async def test_a_deadline_fires_once_across_two_processes() -> None:
    shared = FakeUnitOfWorkFactory()
    first_engine, second_engine = ScriptedEngine(), ScriptedEngine()
    first, second = context(first_engine, shared), context(second_engine, shared)
    await provisioned(first)
    call = await calls.place_call(first, "acme", REQUEST)
    await CallProgress(first).schedule(call.id, first.clock.now() + timedelta(seconds=1), "t1")
    for ctx in (first, second):
        ctx.clock.advance(2)  # type: ignore[attr-defined]
    assert (
        await scheduler.fire_due_deadlines(first) + await scheduler.fire_due_deadlines(second) == 1
    )
    assert first_engine.deadlines + second_engine.deadlines == [(call.id, "t1")]


async def test_only_the_owning_node_drives_a_non_simulator_call() -> None:
    shared = FakeUnitOfWorkFactory()
    owner_engine, other_engine = ScriptedEngine("sip"), ScriptedEngine("sip")
    owner, other = context(owner_engine, shared, "a"), context(other_engine, shared, "b")
    await provisioned(owner)
    call = await calls.place_call(owner, "acme", REQUEST)
    ended = await calls.end_call(other, "acme", call.id, Party.DESTINATION, wait_s=0)
    assert ended.is_active and other_engine.hangups == []  # left as a request for the owner
    assert await scheduler.fire_due_deadlines(other) == 0
    assert await scheduler.fire_due_deadlines(owner) == 1
    assert owner_engine.hangups == [(call.id, Party.DESTINATION)]


async def test_recover_ends_this_nodes_calls_only() -> None:
    shared = FakeUnitOfWorkFactory()
    mine, theirs = (
        context(ScriptedEngine("sip"), shared, "a"),
        context(ScriptedEngine("sip"), shared, "b"),
    )
    await provisioned(mine)
    kept = await calls.place_call(
        theirs, "acme", PlaceCallRequest(from_agent_id="2", to_telephone_number="02072068888")
    )
    lost = await calls.place_call(mine, "acme", REQUEST)
    assert await scheduler.recover(mine) == 1
    assert (await calls.get_call(mine, "acme", lost.id)).result == CallResult.failure(
        Party.ORIGINATOR, Reason.CALL_FAILED
    )
    assert (await calls.get_call(mine, "acme", kept.id)).is_active


async def test_wrapup_ends_by_the_scheduler() -> None:
    ctx = context()
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    await CallProgress(ctx).agent_answered(call.id)
    await CallProgress(ctx).ended(
        call.id, CallResult.failure(Party.DESTINATION, Reason.NUMBER_BUSY)
    )
    ctx.clock.advance(9.9)  # type: ignore[attr-defined]
    assert await scheduler.tick(ctx) == 0
    ctx.clock.advance(0.1)  # type: ignore[attr-defined]
    assert await scheduler.tick(ctx) == 1
    agents = {a.agent_id: a for a in await provisioning.list_agents(ctx, "acme")}
    assert agents["1"].state is AgentState.READY


async def test_tokens_check_account_generation_and_path() -> None:
    ctx = context()
    secret = await provisioned(ctx)
    with pytest.raises(InvalidClient):
        await auth.issue_access_token(ctx, "acme", secret + "x")
    token, lifetime = await auth.issue_access_token(ctx, "acme", secret)
    assert lifetime == 3600
    await auth.authorise(ctx, token, "acme")
    with pytest.raises(AccountForbidden):
        await auth.authorise(ctx, token, "other")
    await provisioning.new_api_token(ctx, "acme")
    with pytest.raises(InvalidAccessToken):
        await auth.authorise(ctx, token, "acme")


def simulator_context(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> Context:
    engine = SimulatorEngine(clock.now, answer_ms=1000, talk_seconds=60)
    ctx = context(uow=uow)
    ctx.clock = clock
    ctx.engine = engine
    engine.bind(CallProgress(ctx))
    return ctx


async def test_a_restart_fires_each_deadline_that_fell_due_while_down_once() -> None:
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    before = simulator_context(shared, clock)
    await provisioned(before)
    await provisioning.add_agent(before, "acme", "3", AgentOptions(phone="sim:noanswer"))
    answering = await calls.place_call(before, "acme", REQUEST)  # agent answers after 1 s
    ringing = await calls.place_call(
        before, "acme", PlaceCallRequest(from_agent_id="3", to_telephone_number="02072068888")
    )
    clock.advance(30)  # the process died; its deadlines (1 s, 15 s) fell due meanwhile

    after = simulator_context(shared, clock)  # the same node, started again
    assert await scheduler.recover(after) == 0  # simulated calls go on
    assert await scheduler.tick(after) == 2
    assert await scheduler.tick(after) == 0  # each fired once
    async with shared(write=False) as uow:
        answered = await uow.calls.get(answering.id)
        unanswered = await uow.calls.get(ringing.id)
    assert answered is not None and answered.agent_answered_at == clock.now()
    assert answered.deadline_tag == "sim:destination_answer"
    assert unanswered is not None and unanswered.result == CallResult.failure(
        Party.ORIGINATOR, Reason.NO_ANSWER
    )


async def test_a_deadline_reported_twice_takes_effect_once() -> None:
    """A simulator report consumes the deadline it answers: fired again (a second process, a
    restart before the first report was known to have run), it changes nothing."""
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    ctx = simulator_context(shared, clock)
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    clock.advance(2)
    async with shared(write=False) as uow:
        due = await uow.calls.due_calls(clock.now(), node_id=ctx.node_id)
    setup = CallSetup.of(due[0])
    await ctx.engine.on_deadline(setup, "sim:agent_answer")
    async with shared(write=False) as uow:
        once = await uow.calls.get(call.id)
    clock.advance(0.5)
    await ctx.engine.on_deadline(setup, "sim:agent_answer")  # the same deadline again
    async with shared(write=False) as uow:
        twice = await uow.calls.get(call.id)
    assert once == twice and twice is not None
    assert twice.agent_answered_at == clock.now() - timedelta(seconds=0.5)
    assert twice.deadline_tag == "sim:destination_answer"


async def test_a_due_deadline_that_no_longer_fits_the_phase_is_cleared() -> None:
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    ctx = simulator_context(shared, clock)
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    stale = Deadline(clock.now(), "sim:destination_answer")  # not a ringing agent's deadline
    await CallProgress(ctx).schedule(call.id, stale.due_at, stale.tag)
    await CallProgress(ctx).destination_answered(call.id, fired=stale)
    async with shared(write=False) as uow:
        after = await uow.calls.get(call.id)
    assert after is not None and after.connected_at is None
    assert (after.deadline_at, after.deadline_tag) == (None, None)


async def test_an_idle_deadline_loop_reads_nothing_until_a_deadline_or_a_ring() -> None:
    """No polling: after its first look at start, the loop opens no unit of work until the
    next deadline it knows of, or until it is rung (another process left one)."""
    shared = FakeUnitOfWorkFactory()
    ctx = simulator_context(shared, SystemClockForTests())  # type: ignore[arg-type]
    await provisioned(ctx)
    await provisioning.add_agent(ctx, "acme", "5", AgentOptions(phone="sim:answer?after=200"))
    loop = scheduler.DeadlineLoop(ctx)
    ctx.wakeup = loop
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.sleep(0.1)
        opened, rounds = len(shared.opened), loop.rounds
        await asyncio.sleep(0.4)  # idle: nothing due, nothing written
        assert (len(shared.opened), loop.rounds) == (opened, rounds) == (opened, 1)
        call = await calls.place_call(  # its agent answers after 200 ms
            ctx,
            "acme",
            PlaceCallRequest(from_agent_id="5", to_telephone_number="02072068888"),
        )
        loop.ring()  # as the doorbell does
        await asyncio.sleep(0.05)
        assert loop.rounds == 2
        await asyncio.sleep(0.3)
        assert loop.rounds == 3  # woken by the placement's first deadline, and only by it
        async with shared(write=False) as uow:
            answered = await uow.calls.get(call.id)
        assert answered is not None and answered.agent_answered_at is not None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _EndsThenFails(ScriptedEngine):
    """Reports the call ended before its start says the agent was not reached, as the SIP
    engine's signal chain may (a hang-up while starting)."""

    async def start(self, setup: CallSetup) -> StartOutcome:
        assert self.signals is not None
        await self.signals.ended(setup.call_id, CallResult.failure(Party.ORIGINATOR, Reason.NORMAL))
        return StartOutcome.AGENT_UNREACHABLE


@pytest.mark.parametrize(
    "engine", [ScriptedEngine(outcome=StartOutcome.AGENT_BUSY), _EndsThenFails()]
)
async def test_a_call_committed_then_not_started_ends_once_in_the_log(
    engine: ScriptedEngine,
) -> None:
    uow = FakeUnitOfWorkFactory()
    ctx = context(engine, uow)
    await provisioned(ctx)
    with pytest.raises(CallNotStarted):
        await calls.place_call(ctx, "acme", REQUEST)
    logged = [each.event for each in uow.database.data.events["acme"]]
    kinds = [event.type for event in logged if isinstance(event, CallEvent)]
    assert kinds == ["call.placed", "call.agent.failed", "call.ended"]
    assert await calls.list_calls(ctx, "acme") == []  # the call itself leaves no trace


async def test_recovery_ends_each_stale_call_once_in_the_log() -> None:
    uow = FakeUnitOfWorkFactory()
    ctx = context(uow=uow)
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    assert await scheduler.recover(ctx) == 1  # the scripted engine's calls do not survive
    assert await scheduler.recover(ctx) == 0
    ended = [
        each.event
        for each in uow.database.data.events["acme"]
        if isinstance(each.event, CallEnded) and each.event.call_id == call.id
    ]
    assert [(e.reason, e.hung_up_by) for e in ended] == [("CallFailed", "switchboard")]
