"""The idempotency-key and rate-bucket stores, over the fake, SQLite and PostgreSQL: one live
holder per key, answers kept and replaced only once expired; buckets refilled, capped and
spent atomically, shared by two processes' connections."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from switchboard.adapters.storage import SqlUnitOfWorkFactory
from switchboard.service.ports import IdempotentRequest, StoredResponse, UnitOfWorkFactory
from tests.contract.test_storage_contract import KEY, an_account, at, seed

if TYPE_CHECKING:
    from tests.contract.conftest import Backend

ANSWER = StoredResponse(
    201, (("content-type", "application/json"), ("location", "http://x/1")), b'{"id": "1"}\xff'
)


def a_request(
    key: str = "k-1", fingerprint: str = "f" * 64, call_id: str = "c1"
) -> IdempotentRequest:
    return IdempotentRequest(KEY, key, fingerprint, call_id, at(0), at(3600))


async def reserve(uow: UnitOfWorkFactory, request: IdempotentRequest, now_s: float = 0):
    async with uow() as work:
        held = await work.idempotency.reserve(request, at(now_s))
        await work.commit()
    return held


async def test_a_key_is_held_by_one_request_until_it_expires(backend: Backend) -> None:
    await seed(backend.uow, an_account())
    assert await reserve(backend.uow, a_request()) is None
    held = await reserve(backend.uow, a_request(fingerprint="0" * 64, call_id="c2"), 10)
    assert held == a_request()  # the first holds it; nothing was written
    async with backend.uow() as uow:
        assert await uow.idempotency.answer(KEY, "k-1", "c1", ANSWER)
        assert not await uow.idempotency.answer(KEY, "k-1", "c1", ANSWER)  # answered once
        assert not await uow.idempotency.answer(KEY, "k-1", "c2", ANSWER)  # not its holder
        await uow.commit()
    async with backend.uow(write=False) as uow:
        found = await uow.idempotency.get(KEY, "k-1", at(10))
        assert found == replace(a_request(), response=ANSWER)
        assert await uow.idempotency.get(KEY, "k-1", at(3600)) is None  # expired
        assert await uow.idempotency.get(KEY, "k-2", at(10)) is None
    # Expired: the next request takes the key over, with its own answer.
    later = replace(a_request(call_id="c3"), created_at=at(3600), expires_at=at(7200))
    assert await reserve(backend.uow, replace(later, response=ANSWER), 3600) is None
    async with backend.uow(write=False) as uow:
        assert await uow.idempotency.get(KEY, "k-1", at(3601)) == replace(later, response=ANSWER)


async def test_keys_belong_to_their_account(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_account("otherkey01"))
    assert await reserve(backend.uow, a_request()) is None
    assert await reserve(backend.uow, replace(a_request(), account_key="otherkey01")) is None


async def test_expired_keys_are_purged(backend: Backend) -> None:
    await seed(backend.uow, an_account())
    await reserve(backend.uow, a_request("old"))
    await reserve(backend.uow, replace(a_request("new"), expires_at=at(9000)))
    async with backend.uow() as uow:
        assert await uow.idempotency.purge(at(5000)) == 1
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.idempotency.get(KEY, "old", at(0)) is None
        assert await uow.idempotency.get(KEY, "new", at(0)) is not None


async def take(uow: UnitOfWorkFactory, wanted: int, now: float) -> tuple[int, float]:
    async with uow() as work:
        got = await work.buckets.take(KEY, wanted, rate=2.0, burst=10, now=now)
        await work.commit()
    return got


async def test_a_bucket_starts_full_refills_at_its_rate_and_never_overflows(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account())
    assert await take(backend.uow, 4, 1000.0) == (4, 6.0)
    assert await take(backend.uow, 10, 1000.0) == (6, 0.0)  # what is there, no more
    assert await take(backend.uow, 1, 1000.25) == (0, 0.5)
    assert await take(backend.uow, 3, 1001.25) == (2, 0.5)  # 0.5 + 2 tokens a second
    assert await take(backend.uow, 0, 2000.0) == (0, 10.0)  # full, not more
    assert await take(backend.uow, 1, 1990.0) == (1, 9.0)  # a clock that went back refills nothing


async def test_a_bucket_rolled_back_keeps_its_tokens(backend: Backend) -> None:
    await seed(backend.uow, an_account())
    async with backend.uow() as uow:
        assert await uow.buckets.take(KEY, 5, rate=2.0, burst=10, now=1000.0) == (5, 5.0)
    assert await take(backend.uow, 10, 1000.0) == (10, 0.0)


async def test_two_processes_spend_one_bucket_without_spending_a_token_twice(
    sql_backend: Backend,
) -> None:
    await seed(sql_backend.uow, an_account())
    other = SqlUnitOfWorkFactory(sql_backend.new_database())

    async def spend(uow: UnitOfWorkFactory) -> int:
        got = 0
        for _ in range(15):
            got += (await take(uow, 1, 1000.0))[0]
        return got

    spent = await asyncio.gather(spend(sql_backend.uow), spend(other), spend(other))
    assert sum(spent) == 10  # the burst, once, whoever asked


async def test_two_processes_reserve_one_key_once(sql_backend: Backend) -> None:
    await seed(sql_backend.uow, an_account())
    other = SqlUnitOfWorkFactory(sql_backend.new_database())
    results = await asyncio.gather(
        *(
            reserve(uow, a_request(call_id=f"c{i}"))
            for i, uow in enumerate([sql_backend.uow, other] * 4)
        )
    )
    winners = [r for r in results if r is None]
    assert len(winners) == 1
    assert len({r.call_id for r in results if r is not None}) == 1  # all saw the one holder
