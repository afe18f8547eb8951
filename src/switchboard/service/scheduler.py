"""Deadlines: the timers that matter live in storage, so a restart loses none of them.

A loop in every serving process polls for due call deadlines and wrap-up ends. Claiming a
deadline is a conditional update, so with several processes each fires once. The poll period
(50 ms) keeps timer-driven changes within 100 ms of their deadline.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from switchboard.domain.calls import CallResult, Party, Reason
from switchboard.service.agents import finish_due_wrapups
from switchboard.service.calls import HANGUP_TAG
from switchboard.service.context import Context
from switchboard.service.ports import CallSetup
from switchboard.service.progress import CallProgress

log = logging.getLogger(__name__)


async def fire_due_deadlines(ctx: Context) -> int:
    now = ctx.clock.now()
    async with ctx.uow(write=False) as uow:
        due = await uow.calls.due_deadlines(now, node_id=ctx.node_id)
    fired = 0
    for call_id, deadline_at, tag in due:
        async with ctx.uow() as uow:
            claimed = await uow.calls.claim_deadline(call_id, deadline_at, tag)
            call = await uow.calls.get(call_id)
            await uow.commit()
        if not claimed or call is None or not call.is_active:
            continue
        fired += 1
        setup = CallSetup.of(call)
        try:
            if tag.startswith(HANGUP_TAG):
                await ctx.engine.hangup(setup, Party(tag[len(HANGUP_TAG) :]))
            else:
                await ctx.engine.on_deadline(setup, tag)
        except Exception:
            log.exception("deadline %s of call %s failed; ending the call", tag, call_id)
            await CallProgress(ctx).ended(
                call_id, CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED)
            )
    return fired


async def tick(ctx: Context) -> int:
    return await fire_due_deadlines(ctx) + await finish_due_wrapups(ctx)


async def purge_expired(ctx: Context) -> int:
    async with ctx.uow() as uow:
        purged = await uow.calls.purge_ended(ctx.clock.now() - timedelta(seconds=ctx.retention_s))
        await uow.commit()
    return purged


async def recover(ctx: Context) -> int:
    """At start: calls this node had in progress cannot go on; end them and free their agents."""
    async with ctx.uow(write=False) as uow:
        stale = await uow.calls.active_on_node(ctx.node_id)
    progress = CallProgress(ctx)
    for call in stale:
        await progress.ended(call.id, CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED))
    return len(stale)


async def run_forever(ctx: Context, period_s: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    next_purge = loop.time()
    while True:
        try:
            await tick(ctx)
            if loop.time() >= next_purge:
                await purge_expired(ctx)
                next_purge = loop.time() + 60
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the timers alive through a transient storage error
            log.exception("scheduler tick failed")
        await asyncio.sleep(period_s)
