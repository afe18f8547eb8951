"""The storage contract of leases: deadlines claimed with a lease, nodes' heartbeats and the
takeover of a silent node's calls, over the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from switchboard.domain.calls import Phase
from switchboard.domain.errors import UnknownEntity
from tests.contract.test_storage_contract import PARIS, a_call, an_account, at, seed

if TYPE_CHECKING:
    from tests.contract.conftest import Backend


async def test_a_claim_leases_the_deadline_it_names_while_it_is_the_nodes(
    backend: Backend,
) -> None:
    await seed(
        backend.uow,
        an_account(),
        a_call("c", node_id="a", deadline_at=at(5), deadline_tag="ring"),
        a_call("over", node_id="a", deadline_at=at(5), deadline_tag="t", phase=Phase.ENDED),
    )
    lease = at(35)
    async with backend.uow() as uow:
        claim = uow.calls.claim_deadline
        assert await claim("c", at(5), "other-tag", node_id="a", lease_until=lease) is None
        assert await claim("c", at(6), "ring", node_id="a", lease_until=lease) is None
        assert await claim("nope", at(5), "ring", node_id="a", lease_until=lease) is None
        assert await claim("c", at(5), "ring", node_id="b", lease_until=lease) is None
        assert await claim("over", at(5), "t", node_id="a", lease_until=lease) is None
        claimed = await claim("c", at(5).astimezone(PARIS), "ring", node_id="a", lease_until=lease)
        # The call as it is now: its deadline is the lease, under the same tag.
        expected = a_call("c", node_id="a", deadline_at=lease, deadline_tag="ring")
        assert claimed == expected
        assert await claim("c", at(5), "ring", node_id="a", lease_until=at(40)) is None
        with pytest.raises(UnknownEntity):
            await uow.calls.set_deadline("nope", at(8), "talk")
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.calls.due_calls(at(34), node_id="a") == []
        assert [c.id for c in await uow.calls.due_calls(at(35), node_id="a")] == ["c"]
        assert await uow.calls.next_deadline("a") == lease


async def test_a_lease_not_completed_is_claimed_again_and_a_completed_one_is_spent(
    backend: Backend,
) -> None:
    await seed(
        backend.uow, an_account(), a_call("c", node_id="a", deadline_at=at(5), deadline_tag="r")
    )
    async with backend.uow() as uow:
        assert await uow.calls.claim_deadline("c", at(5), "r", node_id="a", lease_until=at(35))
        await uow.commit()
    # The claimer died: after the lease, the deadline is due again and claimed again.
    async with backend.uow() as uow:
        again = await uow.calls.claim_deadline("c", at(35), "r", node_id="a", lease_until=at(65))
        assert again is not None and again.deadline_at == at(65)
        assert not await uow.calls.clear_deadline("c", at(35), "r")  # the old lease: no effect
        assert not await uow.calls.clear_deadline("c", at(65), "other")
        assert await uow.calls.clear_deadline("c", at(65).astimezone(PARIS), "r")
        assert not await uow.calls.clear_deadline("c", at(65), "r")
        await uow.commit()
    async with backend.uow(write=False) as uow:
        call = await uow.calls.get("c")
        assert call is not None and (call.deadline_at, call.deadline_tag) == (None, None)
        assert await uow.calls.due_calls(at(1000), node_id="a") == []


async def test_a_lease_does_not_clear_a_deadline_set_since(backend: Backend) -> None:
    await seed(
        backend.uow, an_account(), a_call("c", node_id="a", deadline_at=at(5), deadline_tag="r")
    )
    async with backend.uow() as uow:
        assert await uow.calls.claim_deadline("c", at(5), "r", node_id="a", lease_until=at(35))
        await uow.calls.set_deadline("c", at(8), "talk")  # the engine's next step
        assert not await uow.calls.clear_deadline("c", at(35), "r")
        await uow.commit()
    async with backend.uow(write=False) as uow:
        call = await uow.calls.get("c")
    assert call is not None and (call.deadline_at, call.deadline_tag) == (at(8), "talk")


async def test_one_of_many_concurrent_claimers_wins_a_deadline(backend: Backend) -> None:
    await seed(
        backend.uow, an_account(), a_call("c", node_id="a", deadline_at=at(5), deadline_tag="r")
    )

    async def claim() -> bool:
        async with backend.uow() as uow:
            won = await uow.calls.claim_deadline("c", at(5), "r", node_id="a", lease_until=at(9))
            await uow.commit()
            return won is not None

    assert sorted(await asyncio.gather(*(claim() for _ in range(20)))) == [False] * 19 + [True]


async def test_taking_calls_moves_a_nodes_active_calls_only(backend: Backend) -> None:
    await seed(
        backend.uow,
        an_account(),
        a_call("a2", node_id="a", created_at=at(2), deadline_at=at(7), deadline_tag="t"),
        a_call("a1", node_id="a", created_at=at(1)),
        a_call("a-ended", node_id="a", phase=Phase.ENDED),
        a_call("b1", node_id="b", created_at=at(1)),
        a_call("c1", node_id="c", created_at=at(1)),
    )
    async with backend.uow() as uow:
        taken = await uow.calls.take_calls("a", "b")
        await uow.commit()
    assert [(c.id, c.node_id) for c in taken] == [("a1", "b"), ("a2", "b")]
    assert taken[1].deadline_at == at(7)
    async with backend.uow(write=False) as uow:
        assert await uow.calls.active_on_node("a") == []
        assert [c.id for c in await uow.calls.active_on_node("b")] == ["a1", "b1", "a2"]
        assert [c.id for c in await uow.calls.due_calls(at(8), node_id="b")] == ["a2"]
        ended = await uow.calls.get("a-ended")
        assert ended is not None and ended.node_id == "a"


async def test_a_heartbeat_renews_a_registered_node_not_taken_over(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert not await uow.nodes.heartbeat("a", at(1))  # not registered
        await uow.nodes.register("a", "127.0.0.1:1", at(0))
        await uow.nodes.register("b", "127.0.0.1:2", at(0))
        await uow.nodes.register("c", "127.0.0.1:3", at(0))
        assert await uow.nodes.heartbeat("a", at(10))
        await uow.commit()
    async with backend.uow(write=False) as uow:
        # Silent: seen before the given time, not taken over, not the asker.
        assert await uow.nodes.silent(at(5), besides="c") == [("b", at(0))]
        assert await uow.nodes.silent(at(5), besides="b") == [("c", at(0))]
        assert await uow.nodes.silent(at(0), besides="c") == []
        assert await uow.nodes.doorbell("b") == "127.0.0.1:2"
        assert await uow.nodes.taken_by("b") is None


async def test_a_silent_node_is_taken_over_once_and_comes_back_by_registering(
    backend: Backend,
) -> None:
    async with backend.uow() as uow:
        await uow.nodes.register("a", "127.0.0.1:1", at(0))
        await uow.nodes.register("b", "127.0.0.1:2", at(0))
        await uow.commit()
    async with backend.uow() as uow:
        # A heartbeat read earlier than the last one: the node renewed since, not taken.
        assert await uow.nodes.heartbeat("a", at(3))
        assert not await uow.nodes.take_over("a", at(0), by="b", now=at(20))
        assert await uow.nodes.take_over("a", at(3).astimezone(PARIS), by="b", now=at(20))
        assert not await uow.nodes.take_over("a", at(3), by="c", now=at(21))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.nodes.taken_by("a") == "b"
        assert await uow.nodes.silent(at(100), besides="b") == []
        assert not await uow.nodes.heartbeat("a", at(25))  # it does not renew: it was taken
        await uow.nodes.register("a", "127.0.0.1:9", at(30))  # it comes back
        assert await uow.nodes.heartbeat("a", at(31))
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.nodes.taken_by("a") is None
        assert await uow.nodes.doorbell("a") == "127.0.0.1:9"
        assert await uow.nodes.silent(at(40), besides="b") == [("a", at(31))]


async def test_one_of_many_concurrent_survivors_takes_a_node_over(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.nodes.register("dead", "127.0.0.1:1", at(0))
        await uow.commit()

    async def take(survivor: str) -> bool:
        async with backend.uow() as uow:
            won = await uow.nodes.take_over("dead", at(0), by=survivor, now=at(20))
            await uow.commit()
            return won

    won = await asyncio.gather(*(take(f"n{i}") for i in range(10)))
    assert sorted(won) == [False] * 9 + [True]
    async with backend.uow(write=False) as uow:
        assert await uow.nodes.taken_by("dead") == f"n{won.index(True)}"
