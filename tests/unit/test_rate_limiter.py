"""The rate limiter over the fake storage: tokens leased a batch at a time (one write per
batch), the shared bucket never overspent by two limiters, refusals without a write."""

from __future__ import annotations

import pytest

from switchboard.domain.accounts import Account
from switchboard.domain.errors import RateLimited
from switchboard.service.rate_limits import RateLimiter
from tests.fakes import FakeUnitOfWorkFactory

KEY = "acme"


async def a_store() -> FakeUnitOfWorkFactory:
    uow = FakeUnitOfWorkFactory()
    async with uow() as work:
        await work.accounts.add(Account(key=KEY), "hash")
        await work.commit()
    return uow


async def admitted(limiter: RateLimiter, uow: FakeUnitOfWorkFactory, count: int, now: float) -> int:
    n = 0
    for _ in range(count):
        try:
            await limiter.admit(uow, KEY, now)
        except RateLimited:
            continue
        n += 1
    return n


async def test_tokens_are_leased_a_batch_at_a_time() -> None:
    uow = await a_store()
    limiter = RateLimiter(100, 200)
    assert limiter.batch == 10
    before = uow.database.commits
    assert await admitted(limiter, uow, 30, 1000.0) == 30
    assert uow.database.commits - before == 3  # one write per ten requests


async def test_two_limiters_share_the_bucket_within_a_batch_each() -> None:
    uow = await a_store()
    one, two = RateLimiter(1, 40), RateLimiter(1, 40)  # batches of 2
    got = 0
    for _ in range(40):
        got += await admitted(one, uow, 1, 1000.0) + await admitted(two, uow, 1, 1000.0)
    assert got == 40  # the bucket's 40, not 40 each
    with pytest.raises(RateLimited) as refused:
        await one.admit(uow, KEY, 1000.0)
    assert refused.value.retry_after_s == 1
    assert await admitted(one, uow, 1, 1001.0) == 1  # a second later, one more


async def test_an_empty_bucket_refuses_without_a_write_until_a_token_can_be_there() -> None:
    uow = await a_store()
    limiter = RateLimiter(0.5, 2)
    assert await admitted(limiter, uow, 2, 1000.0) == 2
    commits = uow.database.commits
    assert await admitted(limiter, uow, 50, 1000.0) == 0
    assert uow.database.commits - commits == 1  # the first refusal looked; the rest knew
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(uow, KEY, 1001.0)
    assert refused.value.retry_after_s == 1
    assert await admitted(limiter, uow, 1, 1002.0) == 1


def test_a_batch_is_a_tenth_of_a_seconds_tokens_within_a_twentieth_of_the_burst() -> None:
    assert RateLimiter(100, 200).batch == 10
    assert RateLimiter(2000, 4000).batch == 200
    assert RateLimiter(2000, 100).batch == 5
    assert RateLimiter(0.5, 10).batch == 1
