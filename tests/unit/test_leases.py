"""Leases on a fake clock: a claimed deadline that its claimer never completed fires again
after the lease, once; a node that stops renewing its lease is taken over by a survivor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from switchboard.adapters.telephony.simulator import SimulatorEngine
from switchboard.config import ConfigError, load_settings
from switchboard.domain.agents import AgentState
from switchboard.domain.calls import Call, CallResult, Party, Phase, Reason
from switchboard.domain.placement import PlaceCallRequest
from switchboard.service import calls, provisioning, scheduler
from switchboard.service.context import Context
from switchboard.service.nodes import NodeWatch
from switchboard.service.ports import CallSetup
from switchboard.service.progress import CallProgress
from switchboard.service.provisioning import AgentOptions
from tests.fakes import FakeClock, FakeUnitOfWorkFactory
from tests.fakes.engine import ScriptedEngine
from tests.unit.test_service import REQUEST, context, provisioned


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


class CrashAt:
    """Fault points that crash the ``nth`` time ``point`` is reached."""

    def __init__(self, point: str, nth: int = 1) -> None:
        self._point, self._left = point, nth

    def reach(self, point: str) -> None:
        if point == self._point:
            self._left -= 1
            if self._left == 0:
                raise Crash(point)


def node(
    shared: FakeUnitOfWorkFactory, clock: FakeClock, node_id: str, engine: str = "simulator"
) -> Context:
    """A serving process of ``node_id`` on the shared storage and clock."""
    if engine == "simulator":
        ctx = context(uow=shared, node=node_id)
        ctx.engine = SimulatorEngine(clock.now, answer_ms=1000, talk_seconds=60)
        ctx.engine.bind(CallProgress(ctx))
    else:
        ctx = context(ScriptedEngine(engine), shared, node_id)
    ctx.clock = clock
    return ctx


async def stored(ctx: Context, call_id: str) -> Call:
    async with ctx.uow(write=False) as uow:
        call = await uow.calls.get(call_id)
    assert call is not None
    return call


async def agent_state(ctx: Context, agent_id: str) -> AgentState:
    agents = {a.agent_id: a for a in await provisioning.list_agents(ctx, "acme")}
    return agents[agent_id].state


async def test_a_claim_not_completed_fires_again_after_the_lease_and_once() -> None:
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    engine = ScriptedEngine("sip")
    ctx = node(shared, clock, "a", engine="sip")
    ctx.engine = engine
    engine.bind(CallProgress(ctx))
    ctx.faults = CrashAt("deadline_claimed")
    await provisioned(ctx)
    call = await calls.place_call(ctx, "acme", REQUEST)
    await CallProgress(ctx).schedule(call.id, clock.now() + timedelta(seconds=1), "ring-out")
    clock.advance(2)
    with pytest.raises(Crash):  # claimed, then the process died before the engine acted
        await scheduler.tick(ctx)
    assert engine.deadlines == []
    assert (await stored(ctx, call.id)).deadline_tag == "ring-out"  # leased, not consumed

    clock.advance(ctx.deadline_lease_s - 0.1)  # the lease still runs
    assert await scheduler.tick(ctx) == 0
    clock.advance(0.1)
    assert await scheduler.tick(ctx) == 1
    assert engine.deadlines == [(call.id, "ring-out")]
    clock.advance(3600)  # completed: spent, never again
    assert await scheduler.tick(ctx) == 0
    assert engine.deadlines == [(call.id, "ring-out")]
    after = await stored(ctx, call.id)
    assert (after.deadline_at, after.deadline_tag) == (None, None)


async def test_a_simulated_call_commits_each_step_with_its_next_deadline() -> None:
    """A destination that fails at once: the agent's answer and the end are two deadlines,
    so a crash between them leaves the second due, never a call with no deadline."""
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    before = node(shared, clock, "a")
    before.faults = CrashAt("deadline_claimed", nth=2)
    await provisioned(before)
    busy = PlaceCallRequest(from_agent_id="1", to_telephone_number="02072060486")
    call = await calls.place_call(before, "acme", busy)
    clock.advance(1)
    with pytest.raises(Crash):
        while await scheduler.tick(before):
            pass
    crashed = await stored(before, call.id)
    assert crashed.phase is Phase.DESTINATION_RINGING and crashed.deadline_at == clock.now()

    after = node(shared, clock, "a")  # the same node, started again
    while await scheduler.tick(after):
        pass
    ended = await stored(after, call.id)
    assert ended.result == CallResult.failure(Party.DESTINATION, Reason.NUMBER_BUSY)
    assert await agent_state(after, "1") is AgentState.WRAPUP


async def test_a_silent_node_is_taken_over_within_the_takeover_time() -> None:
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    dead, dead_sip = node(shared, clock, "a"), node(shared, clock, "a", engine="sip")
    survivor = node(shared, clock, "b")
    await provisioned(dead)
    await provisioning.add_agent(dead, "acme", "3", AgentOptions())
    watches = {
        name: NodeWatch(ctx, doorbell=f"127.0.0.1:{port}", heartbeat_s=5, takeover_s=15)
        for name, ctx, port in (("a", dead, 1), ("b", survivor, 2))
    }
    for watch in watches.values():
        await watch.register()
    simulated = await calls.place_call(dead, "acme", REQUEST)
    sip = await calls.place_call(
        dead_sip, "acme", PlaceCallRequest(from_agent_id="3", to_telephone_number="02072068888")
    )
    assert await agent_state(dead, "3") is AgentState.BUSY_OUTGOING
    # "a" dies now. Its silence under the takeover time is not enough.
    clock.advance(10)
    assert await watches["b"].beat() == []
    clock.advance(5.1)
    assert await watches["b"].beat() == ["a"]
    assert await watches["b"].beat() == []  # once

    ended = await stored(survivor, sip.id)
    assert ended.result == CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
    assert await agent_state(survivor, "3") is AgentState.READY  # never answered: no wrap-up
    # The simulated call is the survivor's now, driven from its deadlines.
    assert (await stored(survivor, simulated.id)).node_id == "b"
    while await scheduler.tick(survivor):
        pass
    driven = await stored(survivor, simulated.id)
    assert driven.agent_answered_at is not None and driven.is_active


async def test_a_node_that_renews_its_lease_is_not_taken_over() -> None:
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    a, b = node(shared, clock, "a"), node(shared, clock, "b")
    watch_a = NodeWatch(a, doorbell="127.0.0.1:1", heartbeat_s=5, takeover_s=15)
    watch_b = NodeWatch(b, doorbell="127.0.0.1:2", heartbeat_s=5, takeover_s=15)
    await watch_a.register()
    await watch_b.register()
    for _ in range(10):
        clock.advance(5)
        assert await watch_a.beat() == [] and await watch_b.beat() == []


async def test_a_node_back_after_a_takeover_leaves_its_calls_to_its_successor() -> None:
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    a, b = node(shared, clock, "a"), node(shared, clock, "b")
    await provisioned(a)
    watch_a = NodeWatch(a, doorbell="127.0.0.1:1", heartbeat_s=5, takeover_s=15)
    watch_b = NodeWatch(b, doorbell="127.0.0.1:2", heartbeat_s=5, takeover_s=15)
    await watch_a.register()
    await watch_b.register()
    call = await calls.place_call(a, "acme", REQUEST)
    clock.advance(1)
    async with a.uow(write=False) as uow:  # "a" read its due deadline, then stalled
        (due,) = await uow.calls.due_calls(clock.now(), node_id="a")
    clock.advance(15)
    assert await watch_b.beat() == ["a"]
    # "a" wakes: its report for the deadline it had read no longer applies.
    await a.engine.on_deadline(CallSetup.of(due), due.deadline_tag or "")
    assert (await stored(a, call.id)).agent_answered_at is None
    assert await watch_a.beat() == []  # it finds itself taken over, and registers again
    assert await scheduler.tick(a) == 0  # nothing of its own to drive
    assert await scheduler.tick(b) == 1  # the successor drives the call, once
    assert (await stored(b, call.id)).agent_answered_at == clock.now()
    clock.advance(5)
    assert await watch_b.beat() == []  # "a" renews again: not taken over twice
    async with a.uow(write=False) as uow:
        assert await uow.nodes.taken_by("a") is None


def test_the_takeover_time_must_outlast_two_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_NODE_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("SWITCHBOARD_NODE_TAKEOVER_SECONDS", "10")
    with pytest.raises(ConfigError, match="SWITCHBOARD_NODE_TAKEOVER_SECONDS"):
        load_settings()
    monkeypatch.setenv("SWITCHBOARD_NODE_TAKEOVER_SECONDS", "10.5")
    settings = load_settings()
    assert (settings.node_heartbeat_seconds, settings.node_takeover_seconds) == (5, 10.5)
    assert settings.deadline_lease_seconds == 30 and settings.fault_point is None


async def test_a_node_taken_over_while_alive_hangs_up_what_it_held_and_is_ignored() -> None:
    """A SIP node silent (not dead) past the takeover time: its successor ends its calls; when
    it wakes, what its engine reports about them changes nothing, and it hangs them up."""
    shared, clock = FakeUnitOfWorkFactory(), FakeClock()
    a, b = node(shared, clock, "a", engine="sip"), node(shared, clock, "b", engine="sip")
    await provisioned(a)
    watch_a = NodeWatch(a, doorbell="127.0.0.1:1", heartbeat_s=5, takeover_s=15)
    watch_b = NodeWatch(b, doorbell="127.0.0.1:2", heartbeat_s=5, takeover_s=15)
    await watch_a.register()
    await watch_b.register()
    call = await calls.place_call(a, "acme", REQUEST)
    engine_a = a.engine
    assert isinstance(engine_a, ScriptedEngine)
    engine_a.held = [call.id]  # its dialog is up in "a"
    clock.advance(16)
    assert await watch_b.beat() == ["a"]
    failed = CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
    assert (await stored(b, call.id)).result == failed
    # "a" wakes: the destination answered meanwhile, then hung up.
    await CallProgress(a).agent_answered(call.id)
    await CallProgress(a).ended(call.id, CallResult.hung_up(Party.DESTINATION))
    after = await stored(b, call.id)
    assert after.result == failed and after.agent_answered_at is None
    assert engine_a.hangups == []
    assert await watch_a.beat() == []
    assert engine_a.hangups == [(call.id, Party.ORIGINATOR)]
    assert await agent_state(b, "1") is AgentState.READY
