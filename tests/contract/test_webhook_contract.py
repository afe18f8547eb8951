"""The storage contract of webhook subscriptions over the fake, SQLite and PostgreSQL: the lease (one
node wins, an expired one is taken, every delivery write is fenced by it), what counts as
something to send, the delivery log and redeliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.domain.events import AgentStateChanged
from switchboard.domain.webhooks import Delivery, DeliveryStatus, Subscription
from tests.contract.test_storage_contract import KEY, an_account, at, seed

if TYPE_CHECKING:
    from tests.contract.conftest import Backend

SECRET = "a2V5LWtleS1rZXkta2V5LWtleQ=="


def a_subscription(sub_id: str = "s1", cursor: int = 0) -> Subscription:
    return Subscription(
        id=sub_id,
        account_key=KEY,
        url="http://127.0.0.1:9/x",
        event_types=("call.ended",),
        secret=SECRET,
        created_at=at(0),
        updated_at=at(0),
        cursor=cursor,
    )


async def commit_event(backend: Backend, seconds: float) -> int:
    async with backend.uow() as uow:
        uow.events.append(
            AgentStateChanged(
                account_key=KEY, at=at(seconds), agent_id="1", state="Ready", previous="Away"
            )
        )
        await uow.commit()
    async with backend.uow(write=False) as uow:
        return await uow.outbox.last_position(KEY)


async def test_a_subscription_reads_back_as_added_and_goes_with_remove(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account())
    async with backend.uow() as uow:
        await uow.webhooks.add(a_subscription())
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.webhooks.get(KEY, "s1") == a_subscription()
        assert await uow.webhooks.get("other", "s1") is None
        assert await uow.webhooks.list(KEY) == [a_subscription()]
        assert await uow.webhooks.remove(KEY, "s1")
        assert not await uow.webhooks.remove(KEY, "s1")
        await uow.commit()


async def test_one_node_wins_the_lease_until_it_expires_and_writes_are_fenced(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account())
    async with backend.uow() as uow:
        await uow.webhooks.add(a_subscription())
        await uow.commit()
    position = await commit_event(backend, 1)
    async with backend.uow() as uow:
        hooks = uow.webhooks
        assert await hooks.claimable(at(2), "a", 10) == ["s1"]
        assert (await hooks.claim("s1", "a", at(2), at(32))) is not None
        assert await hooks.claim("s1", "b", at(3), at(33)) is None  # a's, still
        assert await hooks.claimable(at(3), "b", 10) == []
        assert not await hooks.advance("s1", "b", position, at(33))  # fenced
        assert await hooks.claim("s1", "a", at(4), at(34)) is not None  # renewed by a
        assert await hooks.claim("s1", "b", at(35), at(65)) is not None  # expired: b's
        assert not await hooks.advance("s1", "a", position, at(40))  # a lost it
        assert await hooks.advance("s1", "b", position, at(66))
        await uow.commit()
    async with backend.uow() as uow:
        assert (await uow.webhooks.get(KEY, "s1")).cursor == position  # type: ignore[union-attr]
        # Nothing after the cursor: nothing to send.
        assert await uow.webhooks.claimable(at(40), "b", 10) == []


async def test_a_retry_waits_for_its_time_and_a_redelivery_is_due_at_once(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account())
    async with backend.uow() as uow:
        await uow.webhooks.add(a_subscription())
        await uow.commit()
    position = await commit_event(backend, 1)
    async with backend.uow() as uow:
        hooks = uow.webhooks
        await hooks.claim("s1", "a", at(2), at(32))
        assert await hooks.retry_later("s1", "a", 1, at(10))
        await hooks.release("s1", "a")
        assert await hooks.claimable(at(9), "b", 10) == []
        assert await hooks.claimable(at(10), "b", 10) == ["s1"]
        claimed = await hooks.claim("s1", "b", at(10), at(40))
        assert claimed is not None and (claimed.attempts, claimed.retry_at) == (1, at(10))
        assert await hooks.advance("s1", "b", position, at(40))
        await hooks.release("s1", "b")
        assert await hooks.claimable(at(11), "b", 10) == []
        event = await hooks.event_at(KEY, position)
        assert event is not None
        await hooks.queue_redelivery("s1", event.event.id, position, at(12))
        assert await hooks.claimable(at(12), "c", 10) == ["s1"]
        assert await hooks.due_redeliveries("s1", at(12), 10) == [(event.event.id, position, 0)]
        assert await hooks.find_event(KEY, "s1", event.event.id) == event
        await hooks.redelivery_done("s1", event.event.id)
        assert await hooks.claimable(at(13), "c", 10) == []
        await uow.commit()


async def test_the_delivery_log_is_newest_first_and_counts_attempts(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account())
    async with backend.uow() as uow:
        await uow.webhooks.add(a_subscription())
        tries = [
            Delivery("s1", "e1", 1, n, status, code, error, at(n), at(n + 0.5))
            for n, status, code, error in [
                (1, DeliveryStatus.FAILED, 500, "HTTP 500"),
                (2, DeliveryStatus.FAILED, None, "timed out"),
                (3, DeliveryStatus.DELIVERED, 204, None),
            ]
        ]
        await uow.webhooks.record_all(tries)
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.webhooks.deliveries("s1", 10) == list(reversed(tries))
        assert await uow.webhooks.deliveries("s1", 1) == [tries[-1]]
        assert await uow.webhooks.last_attempt("s1", "e1") == 3
        assert await uow.webhooks.last_attempt("s1", "e2") == 0
