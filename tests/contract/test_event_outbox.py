"""The outbox contract, over the fake, SQLite and PostgreSQL: events are written by the unit of
work's commit with the changes they describe, given positions (cursors: growing, within an
account in commit order) and per-call sequences, and read back as the same events."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from switchboard.domain.calls import Call, CallResult, EndedBy, Ending, Party, Reason
from switchboard.domain.errors import UnknownEntity
from switchboard.domain.events import (
    AgentLegAnswered,
    AgentStateChanged,
    CallEnded,
    CallPlaced,
    ending_events,
    of_call,
)
from tests.contract.test_storage_contract import KEY, T0, a_call, an_account, an_agent, at, seed

if TYPE_CHECKING:
    from tests.contract.conftest import Backend


def placed(call: Call, seconds: float = 0) -> CallPlaced:
    return of_call(CallPlaced, call, at(seconds), agent_id=call.caller_agent_id)


async def test_events_commit_with_the_change_and_read_back_the_same(backend: Backend) -> None:
    call = a_call("c1", reference="https://crm.example/x?y=1")
    await seed(backend.uow, an_account(), an_agent("1"))
    first = placed(call)
    async with backend.uow() as uow:
        await uow.calls.add(call)
        uow.events.append(first)
        await uow.commit()
        assert uow.events == []
        assert [e.id for e in uow.committed] == [first.id]
        assert uow.committed[0].sequence == 1  # type: ignore[attr-defined]
    call.apply_agent_answered(at(2))
    call.end(CallResult.failure(Party.DESTINATION, Reason.NUMBER_BUSY), at(5))
    ending = Ending(EndedBy.DESTINATION, sip_status=486, q850_cause=17)
    async with backend.uow() as uow:
        uow.events.append(of_call(AgentLegAnswered, call, at(2), agent_id="1"))
        uow.events.extend(ending_events(call, ending, at(5)))
        uow.events.append(
            AgentStateChanged(account_key=KEY, at=at(5), agent_id="1", state="Wrapup", previous="x")
        )
        await uow.commit()
    async with backend.uow(write=False) as uow:
        logged = await uow.outbox.of_call(KEY, "c1")
        everything = await uow.outbox.after(KEY, 0, 100)
        last = await uow.outbox.last_position(KEY)
    assert [e.event.type for e in logged] == [
        "call.placed",
        "call.agent.answered",
        "call.destination.failed",
        "call.ended",
    ]
    assert [e.event.sequence for e in logged] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    positions = [e.position for e in everything]
    assert len(positions) == 5 and positions == sorted(set(positions))
    assert positions[-1] == last
    assert logged[0].event == first.__class__(**{**first.__dict__, "sequence": 1})
    end = logged[-1].event
    assert isinstance(end, CallEnded)
    assert (end.code, end.party, end.reason, end.sip_status, end.q850_cause, end.hung_up_by) == (
        "Failure",
        "Destination",
        "NumberBusy",
        486,
        17,
        "destination",
    )
    assert end.regarding == "https://crm.example/x?y=1" and end.at == at(5)
    assert isinstance(everything[-1].event, AgentStateChanged)


async def test_a_transaction_that_does_not_commit_writes_no_event(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_agent("1"))
    call = a_call("c1")
    with pytest.raises(RuntimeError):
        async with backend.uow() as uow:
            await uow.calls.add(call)
            uow.events.append(placed(call))
            raise RuntimeError("the use-case failed")
    async with backend.uow() as uow:  # left without commit
        await uow.calls.add(call)
        uow.events.append(placed(call))
    async with backend.uow(write=False) as uow:
        assert await uow.calls.get("c1") is None
        assert await uow.outbox.after(KEY, 0, 10) == []
        assert await uow.outbox.last_position(KEY) == 0


async def test_an_event_that_cannot_be_written_takes_its_change_down(backend: Backend) -> None:
    """No change without its event: an event of an unknown account fails the commit, and the
    call added in that transaction is not there."""
    await seed(backend.uow, an_account(), an_agent("1"))
    call = a_call("c1")
    with pytest.raises(UnknownEntity if not backend.is_sql else Exception):
        async with backend.uow() as uow:
            await uow.calls.add(call)
            uow.events.append(placed(a_call("c2", key="nobody")))
            await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.calls.get("c1") is None
        assert await uow.outbox.last_position(KEY) == 0


async def test_positions_grow_in_commit_order_and_pages_are_per_account(
    backend: Backend,
) -> None:
    await seed(backend.uow, an_account(), an_account("other"), an_agent("1"))
    calls = [a_call(f"c{i}") for i in range(20)]

    async def place(call: Call) -> None:
        async with backend.uow() as uow:
            await uow.calls.add(call)
            uow.events.append(placed(call))
            await uow.commit()

    await asyncio.gather(*(place(call) for call in calls))
    async with backend.uow() as uow:
        uow.events.append(
            AgentStateChanged(account_key="other", at=T0, agent_id="9", state="Away", previous="R")
        )
        await uow.commit()
    async with backend.uow(write=False) as uow:
        mine = await uow.outbox.after(KEY, 0, 100)
        theirs = await uow.outbox.after("other", 0, 100)
        page = await uow.outbox.after(KEY, 5, 3)
    positions = [e.position for e in mine]
    assert len(positions) == 20 and positions == sorted(set(positions))
    assert {e.event.call_id for e in mine} == {c.id for c in calls}  # type: ignore[attr-defined]
    assert len(theirs) == 1 and theirs[0].position > positions[-1]
    assert [e.position for e in page] == positions[5:8]


async def test_a_call_of_another_account_has_no_events_here(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_account("other"), an_agent("1"))
    call = a_call("c1")
    async with backend.uow() as uow:
        await uow.calls.add(call)
        uow.events.append(placed(call))
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.outbox.of_call("other", "c1") == []
        assert len(await uow.outbox.of_call(KEY, "c1")) == 1


async def test_purge_deletes_events_before_the_time_given(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_agent("1"))
    async with backend.uow() as uow:
        for seconds in (0, 10, 20):
            uow.events.append(
                AgentStateChanged(
                    account_key=KEY, at=at(seconds), agent_id="1", state="Away", previous="R"
                )
            )
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.outbox.purge(T0 + timedelta(seconds=15)) == 2
        await uow.commit()
    async with backend.uow(write=False) as uow:
        left = await uow.outbox.after(KEY, 0, 10)
        assert [e.event.at for e in left] == [at(20)]
        newest = left[0].position
    async with backend.uow() as uow:
        assert await uow.outbox.purge(T0 + timedelta(seconds=60)) == 0  # never the newest
        uow.events.append(
            AgentStateChanged(account_key=KEY, at=at(70), agent_id="1", state="R", previous="A")
        )
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.outbox.last_position(KEY) > newest  # positions are never given again


async def test_each_account_remembers_how_far_its_events_were_purged(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_account("other"), an_agent("1"))
    async with backend.uow() as uow:
        for seconds, key in ((0, KEY), (5, "other"), (10, KEY), (20, KEY)):
            uow.events.append(
                AgentStateChanged(
                    account_key=key, at=at(seconds), agent_id="1", state="Away", previous="R"
                )
            )
        await uow.commit()
    async with backend.uow(write=False) as uow:
        positions = [e.position for e in await uow.outbox.after(KEY, 0, 10)]
        (others,) = [e.position for e in await uow.outbox.after("other", 0, 10)]
        assert await uow.outbox.purged_through(KEY) == 0  # nothing purged yet
    async with backend.uow() as uow:
        assert await uow.outbox.purge(T0 + timedelta(seconds=12)) == 3
        await uow.commit()
    async with backend.uow(write=False) as uow:
        # The highest position each account lost: a cursor below it has missed events.
        assert await uow.outbox.purged_through(KEY) == positions[1]
        assert await uow.outbox.purged_through("other") == others
        assert await uow.outbox.purged_through("nobody") == 0
    async with backend.uow() as uow:
        assert await uow.outbox.purge(T0 + timedelta(seconds=1)) == 0  # never goes back
        await uow.commit()
    async with backend.uow(write=False) as uow:
        assert await uow.outbox.purged_through(KEY) == positions[1]


async def test_a_reader_following_the_cursor_misses_nothing_while_many_commit(
    backend: Backend,
) -> None:
    """Positions come in commit order within an account: a reader that keeps asking for what
    follows its cursor, while several writers commit at once, ends up with every event (a
    lower position committed after a higher one would be skipped)."""
    await seed(backend.uow, an_account(), an_agent("1"))
    writers, each = 4, 25
    done = asyncio.Event()

    async def write(writer: int) -> None:
        for n in range(each):
            async with backend.uow() as uow:
                uow.events.append(
                    AgentStateChanged(
                        account_key=KEY, at=at(n), agent_id="1", state=f"{writer}", previous=""
                    )
                )
                await uow.commit()
            await asyncio.sleep(0)

    seen: list[int] = []

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            async with backend.uow(write=False) as uow:
                page = await uow.outbox.after(KEY, cursor, 1000)
            seen.extend(e.position for e in page)
            if page:
                cursor = page[-1].position
            elif finished:
                return
            await asyncio.sleep(0)

    reader = asyncio.create_task(follow())
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    await reader
    async with backend.uow(write=False) as uow:
        everything = [e.position for e in await uow.outbox.after(KEY, 0, 1000)]
    assert len(everything) == writers * each
    assert seen == everything
