"""A clock that moves only when a test says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = _utc(at)

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move on by ``seconds`` (and any ``timedelta`` keywords); returns the new time."""
        self._now += timedelta(seconds=seconds, **delta)
        return self._now


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("FakeClock takes timezone-aware datetimes only")
    return value.astimezone(UTC)
