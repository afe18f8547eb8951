"""Node leases: which serving process is alive, and who drives the calls of one that is not.

Each serving process renews its lease in storage every ``heartbeat_s`` (``nodes.seen_at``).
At each heartbeat it also looks for nodes silent for longer than ``takeover_s`` and takes each
over in one transaction, conditional on the heartbeat it read (so a node that renewed or came
back in the meantime is left alone, and of several survivors one wins): the silent node is
marked ``taken_by`` this one, and its active calls become this node's. Then, as at a restart,
the calls this engine cannot drive from storage (the dead node's SIP dialogs died with it) end
as ``{Failure, Originator, CallFailed}``, freeing their agents, and the deadline loop drives
the others (simulator calls) from their persisted deadlines. The heartbeat (one write, one
read) is the only database work an idle node does on a timer.

A node that finds at its heartbeat that it was taken over (it was alive but silent: stopped,
cut off from the database) does not fight: its calls are its successor's, and the reports it
might still make for them are ignored (``CallProgress`` checks the owner in the transaction
that would apply them), and it hangs up the SIP dialogs it still holds for them. It registers
again and goes on with new calls. A restarted node
registers at start, before it recovers anything, so a successor that has not yet acted no
longer takes it over.

Known holes: lease times are read from each node's own clock, so nodes on different machines
need synchronised clocks (skew eats into the takeover time); a node wrongly taken over (alive
but silent) loses its SIP calls, which end as ``CallFailed`` though their dialogs were up.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from switchboard.domain.calls import Party
from switchboard.service.context import Context
from switchboard.service.ports import CallSetup
from switchboard.service.scheduler import end_undrivable

log = logging.getLogger(__name__)


async def take_over_silent(ctx: Context, takeover_s: float) -> list[str]:
    """Take over every node silent for longer than ``takeover_s``; returns their ids."""
    now = ctx.clock.now()
    async with ctx.uow(write=False) as uow:
        silent = await uow.nodes.silent(now - timedelta(seconds=takeover_s), besides=ctx.node_id)
    taken = []
    for node_id, seen_at in silent:
        async with ctx.uow() as uow:
            if not await uow.nodes.take_over(node_id, seen_at, by=ctx.node_id, now=now):
                continue  # it came back, or another survivor was first
            calls = await uow.calls.take_calls(node_id, ctx.node_id)
            await uow.commit()
        ended = await end_undrivable(ctx, calls)
        log.warning(
            "node %s silent since %s: taken over with its %d calls in progress "
            "(%d ended as CallFailed, the rest driven here)",
            node_id,
            seen_at.isoformat(),
            len(calls),
            ended,
        )
        # The deadline loop reads storage again: the calls taken are now among this node's.
        ctx.wakeup.wake_at(ctx.clock.now())
        taken.append(node_id)
    return taken


async def release_taken(ctx: Context) -> int:
    """Hang up the calls this node's engine still holds (SIP dialogs) that another node took
    over: their phones stop ringing or talking; the engine's reports for them are ignored
    (``CallProgress``), the successor having ended them. Returns how many."""
    held = ctx.engine.holding()
    if not held:
        return 0
    async with ctx.uow(write=False) as uow:
        found = [await uow.calls.get(call_id) for call_id in held]
    taken = [call for call in found if call is not None and call.node_id != ctx.node_id]
    for call in taken:
        await ctx.engine.hangup(CallSetup.of(call), Party.ORIGINATOR)
    if taken:
        log.warning("hung up %d calls this node held that another node took over", len(taken))
    return len(taken)


class NodeWatch:
    """This process's lease: registered at start, renewed every ``heartbeat_s``, and the
    takeover of silent nodes at each renewal."""

    def __init__(
        self, ctx: Context, *, doorbell: str, heartbeat_s: float, takeover_s: float
    ) -> None:
        self._ctx = ctx
        self._doorbell = doorbell
        self._heartbeat_s = heartbeat_s
        self._takeover_s = takeover_s

    async def register(self) -> None:
        ctx = self._ctx
        async with ctx.uow() as uow:
            await uow.nodes.register(ctx.node_id, self._doorbell, ctx.clock.now())
            await uow.commit()

    async def beat(self) -> list[str]:
        """Renew the lease (registering again if this node was taken over); then take over
        the silent nodes. Returns the nodes taken over."""
        ctx = self._ctx
        async with ctx.uow() as uow:
            renewed = await uow.nodes.heartbeat(ctx.node_id, ctx.clock.now())
            successor = None if renewed else await uow.nodes.taken_by(ctx.node_id)
            await uow.commit()
        if not renewed:
            log.warning(
                "this node (%s) was taken over by %s while silent: its calls are that "
                "node's now; registering again for new calls",
                ctx.node_id,
                successor,
            )
            await self.register()
            await release_taken(ctx)
        return await take_over_silent(ctx, self._takeover_s)

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # a storage outage: renew at the next beat
                log.exception("node heartbeat failed; trying again at the next")
            await asyncio.sleep(self._heartbeat_s)
