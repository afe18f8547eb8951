"""Work that must outlive the request that started it.

A placement's commit and what follows it (starting the engine's call, or undoing the call when
it did not start) must run to the end once begun: a request cancelled in between (its client
went away, the server is stopping) would otherwise leave an active call nobody drives, with
its agent reserved. ``Detached.run`` runs such work in a task of its own and awaits it through
``asyncio.shield``: cancelling the request cancels only the wait. The process waits for these
tasks when it stops (``close``), for a bounded time, then cancels what is left.

Known holes: work cancelled by ``close`` after the grace ends only as well as its own
cancellation handling allows (the placement undoes a call it had not started).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from switchboard.domain.errors import SwitchboardError

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSE_GRACE_S = 30.0


class Detached:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """``work``'s result; cancelling the caller leaves ``work`` running to its end."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # Nobody awaits the result now: an error in it is logged rather than lost.
            task.add_done_callback(_log_unheard)
            raise

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Wait up to ``grace_s`` for the work under way, then cancel what is left."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace_s)
        if late:
            log.warning("cancelling %d detached tasks still running after %s s", len(late), grace_s)
            for task in late:
                task.cancel()
            await asyncio.wait(late)


def _log_unheard(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()  # retrieved here, so asyncio does not report it unretrieved
    if isinstance(exc, SwitchboardError):  # the answer the client would have had (rule 20)
        log.info("detached work ended after its request went away: %r", exc)
    elif exc is not None:
        log.error("detached work failed after its request went away", exc_info=exc)
