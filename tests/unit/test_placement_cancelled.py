"""A placement whose request is cancelled after its commit (the client went away, the server
is stopping) is driven to its end or undone: never an active call that no engine drives, with
its agent reserved for good.

The scripted engine's ``start`` waits for a gate, as a phone takes its time to ring, and gives
the call up without a word when cancelled there, as the SIP engine does.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from switchboard.domain.agents import Agent, AgentState
from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.service import calls, provisioning
from switchboard.service.context import Context
from switchboard.service.ports import StartOutcome
from tests.fakes.engine import ScriptedEngine
from tests.unit.test_service import REQUEST, context, provisioned


async def gated_context(
    outcome: StartOutcome = StartOutcome.RINGING,
) -> tuple[Context, ScriptedEngine]:
    engine = ScriptedEngine(outcome=outcome)
    engine.gate = asyncio.Event()
    ctx = context(engine)
    await provisioned(ctx)
    return ctx, engine


async def cancel_after_commit(ctx: Context, engine: ScriptedEngine) -> None:
    """Place a call and cancel the request while the engine starts it (after the commit)."""
    request = asyncio.create_task(calls.place_call(ctx, "acme", REQUEST))
    for _ in range(1000):
        if engine.started:
            break
        await asyncio.sleep(0)
    assert engine.started, "the engine was never asked to start the call"
    assert len(await calls.list_calls(ctx, "acme")) == 1  # committed
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request


async def settle() -> None:
    """Let whatever the placement left running run (everything here is in memory)."""
    for _ in range(100):
        await asyncio.sleep(0)


async def caller(ctx: Context) -> Agent:
    agents = {a.agent_id: a for a in await provisioning.list_agents(ctx, "acme")}
    return agents["1"]


async def test_a_call_whose_request_went_away_while_the_agent_rang_is_still_driven() -> None:
    ctx, engine = await gated_context()
    await cancel_after_commit(ctx, engine)
    engine.gate.set()  # type: ignore[union-attr]
    await settle()
    assert engine.abandoned == []  # the engine holds the call: someone drives it
    (call,) = await calls.list_calls(ctx, "acme")
    assert call.is_active
    # It ends as any call does, through the engine's report, and frees the agent.
    assert engine.signals is not None
    await engine.signals.ended(call.id, CallResult.failure(Party.ORIGINATOR, Reason.NO_ANSWER))
    ended = await calls.get_call(ctx, "acme", call.id)
    assert ended.result == CallResult.failure(Party.ORIGINATOR, Reason.NO_ANSWER)
    agent = await caller(ctx)
    assert agent.current_call_id is None and agent.state is not AgentState.BUSY_OUTGOING


async def test_a_call_that_did_not_start_after_its_request_went_away_is_undone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx, engine = await gated_context(StartOutcome.AGENT_BUSY)
    caplog.set_level(logging.INFO)
    await cancel_after_commit(ctx, engine)
    engine.gate.set()  # type: ignore[union-attr]
    await settle()
    assert engine.abandoned == []
    assert await calls.list_calls(ctx, "acme") == []  # rule 20: no trace
    agent = await caller(ctx)
    assert (agent.state, agent.current_call_id, agent.state_before_call) == (
        AgentState.READY,
        None,
        None,
    )
    # The answer nobody heard is logged, not lost as an unretrieved task exception.
    assert "Agent number busy" in caplog.text


async def test_closing_waits_for_a_placement_under_way() -> None:
    ctx, engine = await gated_context()
    await cancel_after_commit(ctx, engine)
    closing = asyncio.create_task(ctx.detached.close(grace_s=5))
    await settle()
    assert not closing.done()  # the agent's phone has not answered the start yet
    engine.gate.set()  # type: ignore[union-attr]
    await asyncio.wait_for(closing, 1)
    assert engine.abandoned == []
    (call,) = await calls.list_calls(ctx, "acme")
    assert call.is_active  # started: the engine's own close hangs it up and reports it


async def test_a_placement_still_starting_when_the_grace_ends_is_undone() -> None:
    ctx, engine = await gated_context()
    await cancel_after_commit(ctx, engine)
    await ctx.detached.close(grace_s=0.05)  # the phone never answers the start
    assert engine.abandoned == [engine.started[0].call_id]
    assert await calls.list_calls(ctx, "acme") == []
    agent = await caller(ctx)
    assert (agent.state, agent.current_call_id) == (AgentState.READY, None)
    assert ctx.detached.pending == 0


async def test_a_placement_not_cancelled_answers_its_request_as_before() -> None:
    ctx, engine = await gated_context()
    request = asyncio.create_task(calls.place_call(ctx, "acme", REQUEST))
    await settle()
    engine.gate.set()  # type: ignore[union-attr]
    call = await asyncio.wait_for(request, 1)
    assert call.is_active and engine.abandoned == []
    assert ctx.detached.pending == 0
