"""The Interaction Content API's fair-use limit: at most ``limit`` requests per account in any
rolling ``window_s`` (spec section 5), counted in this process. A refused request is not
counted, so a client that waits ``Retry-After`` gets through.

Known hole: each process counts its own requests (several nodes allow that many times the
limit); the spec asks only that the sample's pace never trips it.
"""

from __future__ import annotations

import math
from collections import deque

from switchboard.domain.errors import ContentRateLimited


class ContentRateLimit:
    def __init__(self, limit: int = 320, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}

    def admit(self, account_key: str, now: float) -> None:
        """Count one request at ``now`` (seconds), or raise ``ContentRateLimited``."""
        seen = self._seen.get(account_key)
        if seen is None:
            seen = self._seen[account_key] = deque()
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            wait = seen[0] + self.window_s - now
            raise ContentRateLimited(min(60, max(1, math.ceil(wait))))
        seen.append(now)
        if len(self._seen) > 10_000:  # forget accounts whose requests have all aged out
            for key in [k for k, q in self._seen.items() if not q or q[-1] <= now - self.window_s]:
                del self._seen[key]
