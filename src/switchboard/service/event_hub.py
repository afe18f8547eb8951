"""Wakes the event streams of this process when a transaction commits events they wait for.

Streams read the outbox (``EventLog``); this only says when to read it again. Commits of other
processes are not heard here: streams also look again every poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable


class EventHub:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        # Set when the process stops: streams end rather than hold the server open.
        self.closing = False
        # Called on every commit with events in this process (the webhook dispatcher).
        self.listeners: list[Callable[[], None]] = []

    def notify(self, account_keys: Iterable[str]) -> None:
        for listener in self.listeners:
            listener()
        for key in account_keys:
            for waiter in self._waiting.pop(key, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def wait(self, account_key: str, timeout_s: float) -> None:
        """Until an event of the account commits in this process, ``timeout_s`` passes, or
        the process stops."""
        if self.closing:
            return
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(account_key, set())
        waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout_s)
        finally:
            waiters.discard(waiter)
            if not waiters and self._waiting.get(account_key) is waiters:
                del self._waiting[account_key]

    def close(self) -> None:
        self.closing = True
        self.notify(list(self._waiting))

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._waiting.values())
