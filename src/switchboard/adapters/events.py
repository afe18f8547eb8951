"""An in-process event log: keeps the latest events and logs each one.

The events issue replaces this with signed webhooks, a stream and a replayable log; the
service already hands every committed event here, built from ``switchboard.domain.events``.
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
