"""The token bucket's arithmetic, shared by every storage of the buckets."""

from __future__ import annotations

import math


def refilled(tokens: float, updated_at: float, now: float, *, rate: float, burst: float) -> float:
    """The level at ``now`` of a bucket that held ``tokens`` at ``updated_at``. A clock that
    went back (another node's) refills nothing rather than draining the bucket."""
    return min(burst, tokens + max(0.0, now - updated_at) * rate)


def taken(level: float, wanted: int) -> int:
    """Whole tokens a request for ``wanted`` gets from ``level``: fewer when fewer are there."""
    return max(0, min(wanted, math.floor(level + 1e-9)))


def seconds_until(level: float, needed: float, rate: float) -> float:
    """How long until the bucket holds ``needed`` tokens again."""
    return max(0.0, (needed - level) / rate)
