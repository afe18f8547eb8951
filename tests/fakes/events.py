"""An event publisher that remembers what it was given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from switchboard.domain.events import Event

E = TypeVar("E", bound=Event)


class FakeEventPublisher:
    def __init__(self) -> None:
        self.published: list[Event] = []
        self.fail_with: Exception | None = None  # set to make the next publish raise

    async def publish(self, events: Sequence[Event]) -> None:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self.published.extend(events)

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.published if isinstance(event, kind)]

    def clear(self) -> None:
        self.published.clear()
