"""Deadlines: the timers that matter live in storage, so a restart loses none of them.

Each serving process fires the deadlines of the calls it placed (``SWITCHBOARD_NODE_ID``) and
any wrap-up end that is due. It does not poll: ``DeadlineLoop`` sleeps until the earliest
deadline it knows of, read from storage after each round and lowered by ``wake_at`` whenever
this process writes an earlier one (placement, engine progress, the end of a call). A process
with no calls in progress therefore does no database work at all until its next deadline.

Another process reaches it through its doorbell: ``calls end`` on a call this node placed,
run from the CLI or another node, writes a hang-up deadline due now and rings the doorbell
that this node registered in storage at start (``Doorbell``, a UDP datagram); the loop wakes
and reads storage. At start the loop reads storage at once, so a restart fires every deadline
that fell due while the process was down, once each.

A deadline fires at least once and takes effect once. The simulator's reports consume the
deadline they answer in the transaction that applies them (conditional on it still being the
call's, and the call still this node's). For other engines the deadline is first claimed with
a lease (a conditional update that moves it to the lease's end, ``deadline_lease_s``): a
process killed before acting leaves it to fall due again then; once the engine has it in hand
the lease is cleared. A node's calls may move to another node (``service.nodes``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from switchboard.domain.calls import Call, CallResult, EndedBy, Ending, Party, Reason
from switchboard.service.agents import finish_due_wrapups
from switchboard.service.calls import HANGUP_TAG
from switchboard.service.context import Context
from switchboard.service.ports import CallSetup
from switchboard.service.progress import CallProgress
from switchboard.service.recording import RECORDING_TAG, record_now

log = logging.getLogger(__name__)


DUE_BATCH = 100


async def fire_due_deadlines(ctx: Context) -> int:
    """Fire the due deadlines of this node's calls (up to ``DUE_BATCH``), all at once: their
    transactions then share commits where storage batches them. Returns how many fired."""
    return (await _fire_batch(ctx))[1]


async def _fire_batch(ctx: Context) -> tuple[int, int]:
    """(deadlines found due, deadlines fired)."""
    now = ctx.clock.now()
    async with ctx.uow(write=False) as uow:
        due = await uow.calls.due_calls(now, node_id=ctx.node_id, limit=DUE_BATCH)
    fired = await asyncio.gather(*(_fire(ctx, call) for call in due))
    return len(due), sum(fired)


async def _fire(ctx: Context, call: Call) -> int:
    assert call.deadline_at is not None
    tag = call.deadline_tag or ""
    lease: datetime | None = None
    if not ctx.engine.consumes_deadlines or call.engine != ctx.engine.name:
        # Claimed first, with a lease: the engine's reports may come later, or never name
        # the deadline. A claimer that dies before the effect leaves the deadline to fall
        # due again when the lease runs out (on this node restarted, or on its successor).
        lease = ctx.clock.now() + timedelta(seconds=ctx.deadline_lease_s)
        async with ctx.uow() as uow:
            claimed = await uow.calls.claim_deadline(
                call.id, call.deadline_at, tag, node_id=ctx.node_id, lease_until=lease
            )
            await uow.commit()
        if claimed is None:
            return 0
        call = claimed
    # The deadline is this process's, its effect not yet committed (a crash test's moment).
    ctx.faults.reach("deadline_claimed")
    setup = CallSetup.of(call)
    try:
        if tag.startswith(HANGUP_TAG):
            await ctx.engine.hangup(setup, Party(tag[len(HANGUP_TAG) :]))
        elif tag.startswith(RECORDING_TAG):
            # The call as claimed holds the newest value: the tag only says why it woke.
            await record_now(ctx, call, call.recording_status)
        else:
            await ctx.engine.on_deadline(setup, tag)
    except Exception:
        log.exception("deadline %s of call %s failed; ending the call", tag, call.id)
        await CallProgress(ctx).ended(
            call.id,
            CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED),
            ending=Ending(EndedBy.SWITCHBOARD),
        )
    if lease is not None:
        # The engine has it in hand (a live engine's own state from here on): consumed.
        async with ctx.uow() as uow:
            await uow.calls.clear_deadline(call.id, lease, tag)
            await uow.commit()
    return 1


async def tick(ctx: Context) -> int:
    return await fire_due_deadlines(ctx) + await finish_due_wrapups(ctx)


async def purge_expired(ctx: Context) -> int:
    """Ended calls past the retention time, events older than the events' own, and expired
    idempotency keys."""
    now = ctx.clock.now()
    async with ctx.uow() as uow:
        purged = await uow.calls.purge_ended(now - timedelta(seconds=ctx.retention_s))
        await uow.outbox.purge(now - timedelta(seconds=ctx.event_retention_s))
        await uow.idempotency.purge(now)
        await uow.commit()
    if ctx.recordings is not None:
        # Each deletion is logged by the store.
        before = ctx.clock.now() - timedelta(seconds=ctx.recording_retention_s)
        try:
            await ctx.recordings.purge(before)
        except OSError:
            log.exception("purging recordings failed")
    return purged


async def recover(ctx: Context) -> int:
    """At start: calls this node had in progress that its engine cannot go on with (SIP
    dialogs died with the process) are ended and their agents freed. Calls whose state is all
    in storage (the simulator's) go on: the deadline loop fires what fell due, once each."""
    async with ctx.uow(write=False) as uow:
        active = await uow.calls.active_on_node(ctx.node_id)
    return await end_undrivable(ctx, active)


async def end_undrivable(ctx: Context, calls: list[Call]) -> int:
    """End, as ``{Failure, Originator, CallFailed}``, the calls among ``calls`` that this
    process's engine cannot drive from storage alone; returns how many."""
    engine = ctx.engine
    stale = [c for c in calls if not (c.engine == engine.name and engine.survives_restart)]
    progress = CallProgress(ctx)
    for call in stale:
        await progress.ended(
            call.id,
            CallResult.failure(Party.ORIGINATOR, Reason.CALL_FAILED),
            ending=Ending(EndedBy.SWITCHBOARD),
        )
    return len(stale)


async def next_due(ctx: Context) -> tuple[datetime | None, datetime | None]:
    """This node's next call deadline and the next wrap-up end, from storage."""
    async with ctx.uow(write=False) as uow:
        return await uow.calls.next_deadline(ctx.node_id), await uow.agents.next_wrapup_end()


class DeadlineLoop:
    """Sleeps until the next deadline, fires what is due, and reads when to wake next.

    ``wake_at`` (the ``Wakeup`` port) is how the rest of this process says that it wrote an
    earlier deadline; ``ring`` is what the doorbell calls for another process. Ended calls are
    purged when the loop is awake anyway and a minute has passed, never on an idle timer.
    """

    def __init__(self, ctx: Context, *, retry_s: float = 1.0, gap_s: float = 0.005) -> None:
        self._ctx = ctx
        self._retry_s = retry_s
        # Rounds are at least this far apart: under load each then fires a batch, rather than
        # paying its queries for one deadline; it is also the most a deadline waits for it.
        self._gap_s = gap_s
        self._last_round = -gap_s
        self._woken = asyncio.Event()
        self._target: datetime | None = None
        self._wrapup_at: datetime | None = None  # the next wrap-up end, as last read
        self._timer: asyncio.TimerHandle | None = None
        self._next_purge = 0.0
        self.rounds = 0  # how often it woke and read storage: for tests and benchmarks

    def wake_at(self, due_at: datetime) -> None:
        # Maybe a wrap-up end (``wake_at`` does not say): looked for once it is due.
        if self._wrapup_at is not None and due_at < self._wrapup_at:
            self._wrapup_at = due_at
        if self._target is None or due_at < self._target:
            self._target = due_at
            self._arm()

    def ring(self) -> None:
        self.wake_at(self._ctx.clock.now())

    def _arm(self) -> None:
        assert self._target is not None
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        delay = (self._target - self._ctx.clock.now()).total_seconds()
        delay = max(delay, self._last_round + self._gap_s - loop.time(), 0.0)
        self._timer = loop.call_later(delay, self._woken.set)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.ring()  # at start: whatever fell due while no process was running
        try:
            while True:
                await self._woken.wait()
                self._woken.clear()
                self._target = None
                self.rounds += 1
                upcoming = await self._round(loop)
                self._last_round = loop.time()
                if upcoming is not None:
                    self.wake_at(upcoming)
        finally:
            if self._timer is not None:
                self._timer.cancel()

    async def _round(self, loop: asyncio.AbstractEventLoop) -> datetime | None:
        ctx = self._ctx
        try:
            # A full batch means a backlog: fire the next, letting requests in between.
            while (await _fire_batch(ctx))[0] == DUE_BATCH:  # noqa: ASYNC110
                await asyncio.sleep(0)
            wrapup = self._wrapup_at
            if wrapup is None or wrapup <= ctx.clock.now():  # unknown, or due
                while await finish_due_wrapups(ctx) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0)
            if loop.time() >= self._next_purge:
                await purge_expired(ctx)
                self._next_purge = loop.time() + 60
            call_deadline, self._wrapup_at = await next_due(ctx)
            found = [at for at in (call_deadline, self._wrapup_at) if at is not None]
            return min(found) if found else None
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the timers alive through a transient storage error
            log.exception("deadline round failed; trying again shortly")
            return ctx.clock.now() + timedelta(seconds=self._retry_s)
