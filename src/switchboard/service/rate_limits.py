"""Rate limits per account: a token bucket in the database, shared by every process.

Every authenticated V0 request of an account spends one token. The bucket holds up to
``burst`` tokens and refills at ``rate`` a second. To spare a database write per request, a
process takes tokens from the shared bucket a few at a time (``batch``) and spends them
locally. Near empty, the bucket hands out what it has, one token at a time at worst, so the
limit stays exact where it bites.

What leasing costs: a process holds at most one lease per account, so over any stretch of
time it spends at most one batch more than it took from the bucket in that stretch (what it
held unspent when the stretch began): several processes admit at most a batch each more
than a single bucket would. Leases do not expire, as that bound holds whatever their age
(an expiry would only throw tokens away, and made a write per request at high rates). With
the defaults (100/s, burst 200) a batch is 10 tokens: one write per ten requests; a batch
is a tenth of a second's tokens, at most a twentieth of the burst.

The ``RateLimit`` header's remaining count is this process's view: the shared level when it
last leased, refilled since, plus its unspent lease; other processes' spending since is not
in it.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from switchboard.domain.buckets import refilled, seconds_until
from switchboard.domain.errors import RateLimited
from switchboard.service.ports import UnitOfWorkFactory


@dataclass(frozen=True)
class Quota:
    """What the ``RateLimit`` header says: tokens left, and seconds until the bucket is full
    again (or, refused, until a request will be admitted)."""

    remaining: int
    reset_s: int


@dataclass
class _Lease:
    tokens: int  # leased and not yet spent
    level: float  # the shared bucket's level after the lease was taken...
    level_at: float  # ...and when
    # Found empty: no token can be there before this (others only spend), so a flood of
    # refused requests is refused here, without a write each.
    empty_until: float = 0.0


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, batch: int | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limiter needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        # A tenth of a second's tokens, so a busy account costs each process at most about
        # ten bucket writes a second whatever the rate (a batch of 10 at 1,000 requests a
        # second queued every request behind a write and cost a third of the throughput,
        # bench/hot_path.py); at most a twentieth of the burst, which bounds what leasing
        # may overspend.
        self.batch = batch if batch is not None else max(1, min(math.ceil(rate / 10), burst // 20))
        # The policy as draft-ietf-httpapi-ratelimit-headers writes it: ``burst`` requests in
        # the time the bucket takes to fill from empty.
        self.window_s = max(1, math.ceil(burst / rate))
        self.policy = f'"default";q={burst};w={self.window_s}'
        self.policy_header = self.policy.encode()
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def admit(self, uow: UnitOfWorkFactory, account_key: str, now: float) -> Quota:
        """Spend one of the account's tokens, or raise ``RateLimited``; ``now``: epoch
        seconds."""
        lease = self._leases.get(account_key)
        if lease is not None and lease.tokens > 0:
            lease.tokens -= 1
            return self._quota(lease, now)
        lock = self._locks.setdefault(account_key, asyncio.Lock())
        async with lock:
            # Another request of this account may have leased while this one waited.
            lease = self._leases.get(account_key)
            if lease is not None and lease.tokens > 0:
                lease.tokens -= 1
                return self._quota(lease, now)
            if lease is not None and now < lease.empty_until:
                raise RateLimited(max(1, math.ceil(lease.empty_until - now)))
            async with uow() as work:
                got, level = await work.buckets.take(
                    account_key, self.batch, rate=self.rate, burst=self.burst, now=now
                )
                await work.commit()
            self._leases[account_key] = lease = _Lease(max(0, got - 1), level, now)
            if got == 0:
                wait = seconds_until(level, 1, self.rate)
                lease.empty_until = now + wait
                raise RateLimited(max(1, math.ceil(wait)))
            return self._quota(lease, now)

    def _quota(self, lease: _Lease, now: float) -> Quota:
        level = refilled(lease.level, lease.level_at, now, rate=self.rate, burst=self.burst)
        remaining = min(self.burst, math.floor(level + lease.tokens))
        return Quota(remaining, math.ceil(seconds_until(level, self.burst, self.rate)))

    def refused(self, retry_after_s: int) -> Quota:
        return Quota(0, retry_after_s)
