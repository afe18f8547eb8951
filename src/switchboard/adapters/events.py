"""Committed events, logged (DEBUG) and the latest kept in memory, for the operator.

The events themselves are in the outbox (``EventLog``), written with their changes; the
stream and the replayable log read them there (docs/events.md). This only sees what this
process committed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

from switchboard.domain.events import Event

log = logging.getLogger("switchboard.events")


class RecentEvents:
    def __init__(self, keep: int = 1000) -> None:
        self.events: deque[Event] = deque(maxlen=keep)

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            log.debug("%s", event)
            self.events.append(event)
