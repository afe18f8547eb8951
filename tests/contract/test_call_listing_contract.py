"""``CallRepository.find``: the filters and keyset pages of ``/api/v1``'s call listing, the
same over the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from switchboard.domain.calls import Call, Phase
from switchboard.service.ports import CallQuery
from tests.contract.test_storage_contract import KEY, a_call, an_account, an_agent, at, seed

if TYPE_CHECKING:
    from tests.contract.conftest import Backend


async def found(backend: Backend, query: CallQuery) -> list[str]:
    async with backend.uow(write=False) as uow:
        return [c.id for c in await uow.calls.find(query)]


def calls() -> list[Call]:
    return [
        a_call("c1", "1", created_at=at(1), destination_e164="+442072068888", reference="r1"),
        a_call("c2", "2", created_at=at(2), destination_agent_id="1", phase=Phase.CONNECTED),
        a_call("c3", "1", created_at=at(3), destination_e164="+442072060486", phase=Phase.ENDED),
        # the same instant as c3: the id breaks the tie
        a_call("c4", "3", created_at=at(3), destination_e164="+442072068888", reference="r1"),
        a_call("other", "1", key="other", created_at=at(2)),
    ]


async def test_find_filters_each_field_newest_first(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_account("other"), *calls())
    async with backend.uow() as uow:
        for agent_id in ("1", "2", "3"):
            await uow.agents.add(an_agent(agent_id))
        await uow.groups.add_members(KEY, "g", ["2", "3"])
        await uow.commit()
    q = CallQuery(KEY)
    assert await found(backend, q) == ["c4", "c3", "c2", "c1"]
    assert await found(backend, replace(q, phases=(Phase.ENDED, Phase.CONNECTED))) == ["c3", "c2"]
    assert await found(backend, replace(q, phases=(Phase.AGENT_RINGING,))) == ["c4", "c1"]
    # as the caller, or as the destination agent
    assert await found(backend, replace(q, agent_id="1")) == ["c3", "c2", "c1"]
    assert await found(backend, replace(q, group_id="g")) == ["c4", "c2"]
    assert await found(backend, replace(q, group_id="none")) == []
    dest = ("+442072068888", "+442072068888")
    assert await found(backend, replace(q, destination=dest)) == ["c4", "c1"]
    assert await found(backend, replace(q, destination=("x", "1"))) == ["c2"]
    assert await found(backend, replace(q, destination=("+442072068888", None))) == ["c4", "c1"]
    assert await found(backend, replace(q, destination=(None, "1"))) == ["c2"]
    assert await found(backend, replace(q, reference="r1")) == ["c4", "c1"]
    window = replace(q, created_from=at(2), created_until=at(3))
    assert await found(backend, window) == ["c2"]
    assert await found(backend, replace(q, agent_id="1", reference="r1")) == ["c1"]


async def test_find_pages_by_keyset(backend: Backend) -> None:
    await seed(backend.uow, an_account(), an_account("other"), *calls())
    q = CallQuery(KEY, limit=2)
    assert await found(backend, q) == ["c4", "c3"]
    # after c4 (same time as c3): c3 still comes, by its smaller id
    assert await found(backend, replace(q, before=(at(3), "c4"))) == ["c3", "c2"]
    assert await found(backend, replace(q, before=(at(2), "c2"))) == ["c1"]
    assert await found(backend, replace(q, before=(at(1), "c1"))) == []
